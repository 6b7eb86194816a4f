"""Trunk target health (OPTIONS pings) and the failover order for a new call.

What: each SIP target of a trunk is pinged with OPTIONS every
`options_interval_s` (RFC 3261 s11); any final response means the target is
alive (RFC 3261 s11.2: even 4xx proves it answers), a timeout (408 generated
locally) or 503 marks it down after `down_after` misses, and one good answer
marks it up again.  A call tries the up targets in configured order, so it
returns to the primary as soon as the primary recovers; when every target is
down it still tries them all in order (a ping can be lost).  A try moves on to
the next target on 408, 503 or no provisional response within
`no_provisional_s` (not Timer B's 32 s).

How: sans-I/O, time injected; `due(now)` lists the targets to ping,
`get_timer()` says when next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FAILOVER_STATUSES = frozenset({408, 503})


@dataclass
class TargetState:
    host: str
    port: int
    up: bool = True
    misses: int = 0
    next_ping: float = 0.0
    in_flight: bool = False
    changes: int = 0


@dataclass
class TrunkHealth:
    """Health of a trunk's ordered targets (the first one is the primary)."""

    name: str
    targets: list[TargetState]
    interval_s: float
    down_after: int = 1
    log: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, name: str, targets: list[tuple[str, int]], interval_s: float,
           now: float) -> TrunkHealth:
        return cls(name, [TargetState(h, p, next_ping=now) for h, p in targets], interval_s)

    def due(self, now: float) -> list[TargetState]:
        """Targets whose ping is due; the caller sends one OPTIONS to each."""
        if self.interval_s <= 0:
            return []
        out = [t for t in self.targets if not t.in_flight and t.next_ping <= now]
        for t in out:
            t.in_flight = True
        return out

    def get_timer(self) -> float | None:
        if self.interval_s <= 0:
            return None
        waiting = [t.next_ping for t in self.targets if not t.in_flight]
        return min(waiting) if waiting else None

    def result(self, host: str, port: int, status: int, now: float) -> bool | None:
        """A ping's final status (408 for a timeout); returns the new up/down if it changed."""
        t = self._find(host, port)
        if t is None:
            return None
        t.in_flight = False
        t.next_ping = now + self.interval_s
        return self._mark(t, status not in FAILOVER_STATUSES, f"OPTIONS {status}")

    def call_result(self, host: str, port: int, status: int) -> bool | None:
        """A call attempt's outcome counts too: 408/503 means down, anything else up."""
        t = self._find(host, port)
        if t is None:
            return None
        return self._mark(t, status not in FAILOVER_STATUSES, f"INVITE {status}")

    def _mark(self, t: TargetState, alive: bool, why: str) -> bool | None:
        if alive:
            t.misses = 0
            if not t.up:
                t.up = True
                t.changes += 1
                self.log.append(f"trunk {self.name}: {t.host}:{t.port} is up ({why})")
                return True
            return None
        t.misses += 1
        if t.up and t.misses >= self.down_after:
            t.up = False
            t.changes += 1
            self.log.append(f"trunk {self.name}: {t.host}:{t.port} is down ({why})")
            return False
        return None

    def order(self) -> list[tuple[str, int]]:
        """The targets a new call tries, in order: up ones first, each group as configured."""
        ups = [(t.host, t.port) for t in self.targets if t.up]
        downs = [(t.host, t.port) for t in self.targets if not t.up]
        return ups + downs

    def _find(self, host: str, port: int) -> TargetState | None:
        for t in self.targets:
            if t.host == host and t.port == port:
                return t
        return None


def should_fail_over(status: int) -> bool:
    """RFC 3261 s16.7 spirit: 408 and 503 say "this target, not this call"."""
    return status in FAILOVER_STATUSES
