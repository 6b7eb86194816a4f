"""The status board: what the core knows about itself, for /healthz and the CTI process.

Parts report into it and never read each other through it:

    board.set_span("span1", "up", alarms=[], detail={...})
    board.call_started(call_id, span="span1", channel=5, direction="inbound")
    board.call_ended(call_id, cause=16)
    board.set_section("sip", lambda: {"registered": True})   # later parts add sections

`snapshot()` returns a JSON-ready dict; the core pushes it to the console
process (which serves /healthz) every `runtime.status_interval_ms`.  All
methods are thread-safe (a lock around plain dict updates), because the
media thread and library callback threads may report too.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import __version__

MAX_LISTED_CALLS = 256
"""Active calls listed one by one in a snapshot (all are counted)."""


@dataclass
class SpanEntry:
    name: str
    number: int
    driver: str
    type: str
    state: str
    since: float
    alarms: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallEntry:
    call_id: str
    span: str
    channel: int | None
    direction: str
    started: float
    answered: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProcessEntry:
    name: str
    pid: int | None = None
    last_heartbeat: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


class StatusBoard:
    """Spans, calls, processes and counters of the running core."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started_at = clock()
        self._lock = threading.Lock()
        self._spans: dict[str, SpanEntry] = {}
        self._calls: dict[str, CallEntry] = {}
        self._completed = 0
        self._causes: Counter[str] = Counter()
        self._processes: dict[str, ProcessEntry] = {}
        self._sections: dict[str, Callable[[], dict[str, Any]]] = {}
        self.heartbeat_timeout = 3.0

    # -- spans -------------------------------------------------------------

    def add_span(self, name: str, *, number: int, driver: str, type: str, state: str) -> None:
        with self._lock:
            self._spans[name] = SpanEntry(name, number, driver, type, state, self.clock())

    def set_span(self, name: str, state: str, *, alarms: list[str] | None = None,
                 detail: dict[str, Any] | None = None) -> None:
        """Report a span's state ("not started", "starting", "up", "alarm", "failed"...)."""
        with self._lock:
            entry = self._spans.get(name)
            if entry is None:
                entry = self._spans[name] = SpanEntry(name, 0, "", "", state, self.clock())
            if entry.state != state:
                entry.since = self.clock()
            entry.state = state
            if alarms is not None:
                entry.alarms = list(alarms)
            if detail is not None:
                entry.detail = detail

    def span_state(self, name: str) -> str | None:
        with self._lock:
            entry = self._spans.get(name)
            return entry.state if entry else None

    # -- calls -------------------------------------------------------------

    def call_started(self, call_id: str, *, span: str, channel: int | None = None,
                     direction: str = "inbound", **info: Any) -> None:
        with self._lock:
            self._calls[call_id] = CallEntry(call_id, span, channel, direction, self.clock(),
                                             info=info)

    def call_answered(self, call_id: str) -> None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is not None and call.answered is None:
                call.answered = self.clock()

    def call_ended(self, call_id: str, *, cause: int | None = None) -> None:
        """A call is over (counted as completed whatever its cause)."""
        with self._lock:
            if self._calls.pop(call_id, None) is None:
                return
            self._completed += 1
            self._causes[str(cause) if cause is not None else "none"] += 1

    def active_calls(self) -> list[str]:
        with self._lock:
            return list(self._calls)

    # -- processes and sections ---------------------------------------------

    def heartbeat(self, name: str, pid: int, info: dict[str, Any] | None = None) -> None:
        with self._lock:
            entry = self._processes.setdefault(name, ProcessEntry(name))
            entry.pid = pid
            entry.last_heartbeat = self.clock()
            if info is not None:
                entry.info = info

    def expect_process(self, name: str) -> None:
        with self._lock:
            self._processes.setdefault(name, ProcessEntry(name))

    def set_section(self, name: str, provider: Callable[[], dict[str, Any]]) -> None:
        """Add a section to the snapshot, computed by `provider` at each snapshot."""
        with self._lock:
            self._sections[name] = provider

    # -- snapshot ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        with self._lock:
            processes = {}
            for p in self._processes.values():
                age = None if p.last_heartbeat is None else round(now - p.last_heartbeat, 3)
                processes[p.name] = {
                    "pid": p.pid,
                    "alive": age is not None and age <= self.heartbeat_timeout,
                    "last_heartbeat_s": age,
                    **({"info": p.info} if p.info else {}),
                }
            spans = [
                {"name": s.name, "number": s.number, "driver": s.driver, "type": s.type,
                 "state": s.state, "since_s": round(now - s.since, 3), "alarms": s.alarms,
                 **({"detail": s.detail} if s.detail else {})}
                for s in self._spans.values()
            ]
            calls = list(self._calls.values())
            listed = [
                {"id": c.call_id, "span": c.span, "channel": c.channel, "direction": c.direction,
                 "duration_s": round(now - c.started, 1),
                 "answered": c.answered is not None, **c.info}
                for c in calls[:MAX_LISTED_CALLS]
            ]
            out: dict[str, Any] = {
                "version": __version__,
                "uptime_s": round(now - self.started_at, 3),
                "processes": processes,
                "spans": spans,
                "calls": {"active": len(calls), "completed": self._completed,
                          "by_cause": dict(self._causes), "list": listed},
            }
            sections = dict(self._sections)
        for name, provider in sections.items():
            try:
                out[name] = provider()
            except Exception as exc:  # a broken section must not break health
                out[name] = {"error": repr(exc)}
        return out
