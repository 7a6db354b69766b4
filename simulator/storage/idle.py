"""The idle sweeper: a background thread that ends calls nobody is finishing (`Store.abandon_idle`).

A call whose page was closed, whose browser lost its connection, or whose app process died never gets
an outcome from the call itself. Every running app instance sweeps once at start-up and then every
`interval_s`; `cooldown sessions sweep` does the same once from the command line. Sweeping from several
instances at once is safe (see `Store.abandon_idle`). Given `stale_turn_s`, each sweep also settles
turns a dead instance left `received` in calls quiet that long (`Store.sweep`), never a live one's.
"""

from __future__ import annotations

import logging
import threading

from simulator.errors import CooldownError
from simulator.storage.records import IdleSweepReport
from simulator.storage.store import Store

log = logging.getLogger("cooldown.storage.idle")


class IdleSweeper:
    """Run `store.abandon_idle(idle_timeout_s)` now and then every `interval_s` in a daemon thread.

    Attributes:
        runs: How many sweeps have finished (successfully or not).
        last: The last successful sweep's report.
    """

    def __init__(
        self, store: Store, idle_timeout_s: float, interval_s: float, *, stale_turn_s: float | None = None
    ) -> None:
        """Prepare (not start) the sweeper; `start()` sweeps once in the caller's thread, then periodically."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.store = store
        self.idle_timeout_s = idle_timeout_s
        self.stale_turn_s = stale_turn_s
        self.interval_s = interval_s
        self.runs = 0
        self.last: IdleSweepReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep_once(self) -> IdleSweepReport | None:
        """One sweep; a storage error is logged (the next sweep tries again), never raised."""
        try:
            report = self.store.abandon_idle(self.idle_timeout_s)
            if self.stale_turn_s is not None:
                self.store.sweep(stale_after=self.stale_turn_s)
        except CooldownError as exc:
            log.warning("idle sweep failed (will retry in %g s): %s", self.interval_s, exc)
            return None
        finally:
            self.runs += 1
        if report.abandoned:
            log.info("idle sweep: %d call(s) abandoned after %g s idle", len(report.abandoned), self.idle_timeout_s)
        self.last = report
        return report

    def start(self) -> IdleSweepReport:
        """Sweep once now (errors raise: a start-up that cannot sweep should say so), then in the background."""
        report = self.store.abandon_idle(self.idle_timeout_s)
        self.last, self.runs = report, self.runs + 1
        self._thread = threading.Thread(target=self._loop, name="cooldown-idle-sweeper", daemon=True)
        self._thread.start()
        return report

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sweep_once()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the background sweeps (waits for one in progress, up to `timeout_s`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
