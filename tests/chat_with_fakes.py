"""`cooldown chat` in a subprocess with the test fakes (the kill -9 durability test runs this).

The production CLI reads no test hook: this script replaces `chat.build_runtime` before running it.
"""

from __future__ import annotations

from test_cli_chat import fake_runtime

import simulator.cli.chat as chat_module

if __name__ == "__main__":
    chat_module.build_runtime = fake_runtime
    chat_module.chat()
