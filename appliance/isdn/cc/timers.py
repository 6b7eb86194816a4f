"""Q.931 layer-3 timers (Q.931 (05/98) 9.1, Tables 9-1 network side and 9-2 user side).

`TIMERS` is the table: default value, which side runs it, the clause, what
starts and stops it and what its expiry does.  `Timers` holds running
deadlines on injected time; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class TimerSpec:
    """One row of Q.931 Table 9-1/9-2."""

    name: str
    network_s: float | None  # None: not run on the network side
    user_s: float | None  # None: not run on the user side
    clause: str
    started: str
    stopped: str
    expiry: str


TIMERS: Mapping[str, TimerSpec] = MappingProxyType({t.name: t for t in (
    TimerSpec("T301", 180.0, 180.0, "5.1.7", "ALERTING received",
              "CONNECT received", "clear the call (cause 19)"),
    TimerSpec("T302", 15.0, 15.0, "5.1.3 / 5.2.4", "SETUP ACK sent; restarted on INFORMATION",
              "INFORMATION with sending complete", "CALL PROCEEDING if complete, else clear (28)"),
    TimerSpec("T303", 4.0, 4.0, "5.1.1 / 5.2.1", "SETUP sent",
              "ALERTING, CALL PROC, CONNECT, SETUP ACK, RELEASE COMPLETE",
              "retransmit SETUP once, then clear (cause 102)"),
    TimerSpec("T304", 20.0, 30.0, "5.1.3", "SETUP ACK received; restarted on INFORMATION sent",
              "CALL PROC, ALERTING, CONNECT", "clear the call (cause 102)"),
    TimerSpec("T305", 30.0, 30.0, "5.3.3 / 5.3.4", "DISCONNECT sent (no progress 8)",
              "RELEASE or DISCONNECT received", "send RELEASE"),
    TimerSpec("T306", 30.0, None, "5.3.4.1", "DISCONNECT with progress 8 sent",
              "RELEASE or DISCONNECT received", "stop tones, send RELEASE"),
    TimerSpec("T308", 4.0, 4.0, "5.3.3 / 5.3.4", "RELEASE sent",
              "RELEASE COMPLETE or RELEASE received",
              "retransmit RELEASE once, then restart the channel and go to Null"),
    TimerSpec("T309", 90.0, 90.0, "5.8.8", "data link released with calls active",
              "data link re-established", "clear active calls (cause 27)"),
    TimerSpec("T310", 10.0, 30.0, "5.1.6 / 5.2.5.1", "CALL PROCEEDING received",
              "ALERTING, CONNECT, DISCONNECT, PROGRESS", "clear the call (cause 102)"),
    TimerSpec("T313", None, 4.0, "5.2.8", "CONNECT sent", "CONNECT ACK received",
              "clear the call (cause 102)"),
    TimerSpec("T316", 120.0, 120.0, "5.5.1", "RESTART sent", "RESTART ACK received",
              "retransmit RESTART (restart_retries), then out of service"),
    TimerSpec("T322", 4.0, 4.0, "5.8.10", "STATUS ENQUIRY sent",
              "STATUS, DISCONNECT, RELEASE, RELEASE COMPLETE received",
              "retransmit STATUS ENQUIRY, then clear (cause 41)"),
    TimerSpec("T3M1", 120.0, 120.0, "GR-4434 / T1.607 SERVICE", "SERVICE sent",
              "SERVICE ACK received", "retransmit SERVICE once, then give up"),
)})


def default_duration(name: str, network: bool, overrides: Mapping[str, float]) -> float:
    """Duration of timer `name` for one side, with a variant's or span's overrides."""
    if name in overrides:
        return overrides[name]
    spec = TIMERS[name]
    value = spec.network_s if network else spec.user_s
    if value is None:
        raise KeyError(f"{name} is not run on the {'network' if network else 'user'} side")
    return value


class Timers:
    """Running timers of one call (or of the controller), name -> deadline."""

    __slots__ = ("_deadlines", "_durations", "_network")

    def __init__(self, network: bool, overrides: Mapping[str, float]) -> None:
        self._deadlines: dict[str, float] = {}
        self._network = network
        self._durations = overrides

    def duration(self, name: str) -> float:
        return default_duration(name, self._network, self._durations)

    def start(self, name: str, now: float) -> None:
        """Start (or restart) `name`."""
        self._deadlines[name] = now + self.duration(name)

    def stop(self, *names: str) -> None:
        for name in names:
            self._deadlines.pop(name, None)

    def stop_all(self) -> None:
        self._deadlines.clear()

    def running(self, name: str) -> bool:
        return name in self._deadlines

    def names(self) -> tuple[str, ...]:
        return tuple(self._deadlines)

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    def pop_expired(self, now: float) -> str | None:
        """The earliest timer due at `now`, removed from the running set, or None."""
        due = [(d, n) for n, d in self._deadlines.items() if d <= now]
        if not due:
            return None
        _, name = min(due)
        del self._deadlines[name]
        return name
