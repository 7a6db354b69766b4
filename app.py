"""Cooldown's web page. The page itself lives in `simulator.ui.app`; this file runs it from a checkout.

`python app.py` is the same as `cooldown app`.
"""

from simulator.ui.app import build, launch, launch_kwargs

__all__ = ["build", "launch", "launch_kwargs"]

if __name__ == "__main__":
    launch()
