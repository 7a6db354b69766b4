"""Entry point of the embedded model server process: llama-cpp-python's OpenAI-compatible server.

Started by `simulator.llm.embedded.EmbeddedServer`. A watchdog thread ends this process as soon as its
parent is gone (even after `kill -9` of the parent), so no orphan server is ever left behind.

    python -m simulator.llm.embedded_child --parent-pid PID -- --model FILE --port N ...
"""

from __future__ import annotations

import os
import sys
import threading
import time


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


def main() -> None:
    """Run llama_cpp.server with the arguments after `--`, dying with the parent."""
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "--parent-pid":
        parent = int(args[1])
        args = args[2:]
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if args and args[0] == "--":
        args = args[1:]
    sys.argv = ["llama_cpp.server", *args]
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
