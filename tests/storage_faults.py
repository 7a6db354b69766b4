"""Fault injection for storage tests, from outside the Store: fail a transaction after its k-th write.

The production Store carries no test hooks. A SQLAlchemy event listener on the store's engine raises
after the k-th INSERT/UPDATE/DELETE it sees, which is where a crash or a driver error would hit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from simulator.storage import Store


class InjectedFault(RuntimeError):
    """Raised by `fail_after_write`."""


@contextmanager
def fail_after_write(store: Store, k: int) -> Iterator[None]:
    """Within the block, the store's k-th write statement (1-based) raises `InjectedFault` once it ran."""
    seen = 0

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        nonlocal seen
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            seen += 1
            if seen == k:
                raise InjectedFault(f"injected fault after write {k}")

    engine = store._engine
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(engine, "after_cursor_execute", after)
