"""The supervisor's watchdog: a dead web worker or Huey consumer is restarted with back-off, or the box exits.

Sanic 25.x's process manager notices a dead child (it marks it FAILED) but never starts it again, and the main
process stays up, so neither Docker's nor systemd's restart policy acts while every webhook times out or no
lesson goes out. The watchdog is a thread of the supervisor: it polls the manager's processes, and when one has
died outside a shutdown it waits the back-off `restart_delay` gives and asks Sanic's own monitor loop to restart
it (the same message a `sanic inspect` restart sends, so the restart runs on the monitor's thread, not ours). A
child that keeps dying (GIVE_UP_AFTER deaths within WINDOW_SECONDS) stops the whole box with a non-zero exit, so
the container's or unit's restart policy starts it afresh and whoever watches it sees it.

Durations here are `time.monotonic()` seconds: a stretch of time, never a time of day.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("coachbox.supervisor")


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0  # seconds before the first restart; doubled for each further death in the window
    max_delay: float = 30.0
    give_up_after: int = 5  # this many deaths of one child within window_seconds: exit non-zero instead
    window_seconds: float = 300.0


def restart_delay(deaths: Sequence[float], now: float, policy: RestartPolicy = RestartPolicy()) -> float | None:
    """Seconds to wait before restarting a child that died at the last of `deaths` (monotonic times, the latest
    included), or None to give up: 1 s, 2 s, 4 s, 8 s… capped at `max_delay`, counting deaths within the window."""
    recent = [when for when in deaths if now - when <= policy.window_seconds]
    if len(recent) >= policy.give_up_after:
        return None
    return min(policy.max_delay, policy.first_delay * 2 ** max(0, len(recent) - 1))


class Watchdog:
    """Polls a Sanic WorkerManager's processes from a daemon thread of the supervisor."""

    POLL_SECONDS = 0.2

    def __init__(
        self,
        manager: Any,
        policy: RestartPolicy = RestartPolicy(),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.manager = manager
        self.policy = policy
        self._monotonic = monotonic
        self._deaths: dict[str, list[float]] = {}
        self._handled: set[tuple[str, int]] = set()  # (process name, pid) already seen dead
        self._due: dict[str, float] = {}  # process name -> when to restart it
        self._stop = threading.Event()
        self.gave_up: str | None = None  # the child that kept dying, once the watchdog stopped the box

    def start(self) -> None:
        threading.Thread(target=self._run, name="coachbox-watchdog", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.POLL_SECONDS):
            if getattr(self.manager, "_shutting_down", False):
                return
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the watchdog must outlive any surprise in Sanic's state
                log.exception("watchdog check failed")

    def check(self) -> None:
        now = self._monotonic()
        for process in list(self.manager.processes):
            name, pid = process.name, process.pid
            if not pid or (name, pid) in self._handled or name in self._due or process.is_alive():
                continue
            if process.state.name in ("TERMINATED", "RESTARTING", "JOINED"):
                continue  # stopped on purpose (shutdown) or already being restarted
            self._handled.add((name, pid))
            deaths = self._deaths.setdefault(name, [])
            deaths.append(now)
            delay = restart_delay(deaths, now, self.policy)
            if delay is None:
                self._give_up(name, len(deaths), process.exitcode)
                return
            log.error(
                "child process died; restarting it",
                extra={"child": name, "pid": pid, "exitcode": process.exitcode, "restart_in_seconds": delay},
            )
            self._due[name] = now + delay
        for name, when in list(self._due.items()):
            if when <= now:
                del self._due[name]
                log.warning("restarting child process", extra={"child": name})
                self.manager.monitor_publisher.send(name)  # Sanic's monitor loop restarts it by name

    def _give_up(self, name: str, deaths: int, exitcode: int | None) -> None:
        self.gave_up = name
        log.critical(
            "child process keeps dying; stopping the box so its restart policy acts",
            extra={
                "child": name,
                "exitcode": exitcode,
                "deaths": deaths,
                "window_seconds": self.policy.window_seconds,
            },
        )
        self._stop.set()
        # What Sanic's own signal handler does: stop the monitor loop, then ask every child to stop.
        self.manager.monitor_publisher.send(None)
        self.manager.shutdown()
