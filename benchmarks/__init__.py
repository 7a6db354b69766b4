"""Cooldown's benchmarks: what a turn costs and how it scales (issue 8).

Each module measures one figure and returns a `benchmarks.common.Figure`; `benchmarks.run` runs the
set, prints a one-screen summary, saves `results/latest.json` and plots `results/*.png`. Figures are
ratios or distributions measured within one run (A/B sides interleaved), never timed assertions: the
machines are shared and noisy, so every figure carries the load average seen while it ran.

    python -m benchmarks.run --quick        # or: cooldown bench --quick
"""
