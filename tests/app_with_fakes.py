"""`cooldown app` in a subprocess on a scripted caller model (the multi-instance tests run this).

Everything is the real app (the CLI, `launch`, the idle sweeper, the configured store and the local
appraiser) except the caller model: the production code reads no test hook, so this script replaces
`simulator.ui.app.default_deps` before running the CLI. Arguments are the CLI's: `app --port N`.
"""

from __future__ import annotations

import simulator.ui.app as app_module
from simulator.config import Settings
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel
from simulator.runtime import Runtime, local_grader, open_store

REPLY = "Fine. I took the whole day off for this, and I still want my parcel."


def fake_deps(settings: Settings) -> Runtime:
    """The configured store and local appraiser, and a caller that always says `REPLY` (no LLM)."""
    store = open_store(settings)
    caller = FakeChatModel(default_reply=REPLY)
    caller._info = ModelInfo(role="caller", provider="fake", model="scripted-caller", prompt_form="chat")
    return Runtime(caller, local_grader(settings=settings), None, store)


if __name__ == "__main__":
    from simulator.cli.main import main

    app_module.default_deps = fake_deps
    main()
