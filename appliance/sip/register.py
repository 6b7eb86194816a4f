"""Digest registration client timing (RFC 3261 s10.2), sans-I/O.

What: REGISTER with an Expires header; on 200 the granted expiry is read
(the Contact's expires parameter first, then Expires, RFC 3261 s10.2.4) and the
refresh is scheduled well before it runs out (at half the granted time, at
least 32 s early when the grant allows it); on a failure or a timeout the
next try backs off exponentially (`retry_base_s` doubling up to `retry_max_s`).
401/407 challenges are answered once per fresh nonce by the caller (sippy's
digest code computes the credentials); a second challenge for the same
request is a failure (wrong password), not a loop.

How: `get_timer()` says when `handle_timer(now)` wants a REGISTER sent;
`on_response(status, granted, now)` feeds the outcome back.

Limits: one binding per client; no outbound (RFC 5626) flows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class RegState(Enum):
    IDLE = "idle"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"


@dataclass
class RegistrationTimer:
    expires: int = 3600
    retry_base_s: float = 5.0
    retry_max_s: float = 300.0
    state: RegState = RegState.IDLE
    next_at: float | None = 0.0
    failures: int = 0
    granted: int = 0
    last_status: int = 0

    def get_timer(self) -> float | None:
        return None if self.state is RegState.REGISTERING else self.next_at

    def handle_timer(self, now: float) -> bool:
        """True when a REGISTER is to be sent now."""
        if self.state is RegState.REGISTERING or self.next_at is None or now < self.next_at:
            return False
        self.state = RegState.REGISTERING
        return True

    def refresh_delay(self, granted: int) -> float:
        """Half the grant, and at least 32 s before expiry where the grant is long enough."""
        return float(max(1.0, min(granted / 2, granted - 32))) if granted > 64 else max(1.0, granted / 2)

    def on_response(self, status: int, granted: int | None, now: float) -> RegState:
        """The REGISTER's final status (408 for a timeout) and the granted expiry."""
        self.last_status = status
        if 200 <= status < 300:
            self.granted = granted if granted is not None and granted > 0 else self.expires
            self.failures = 0
            self.state = RegState.REGISTERED
            self.next_at = now + self.refresh_delay(self.granted)
            return self.state
        self.failures += 1
        self.state = RegState.FAILED
        self.next_at = now + min(self.retry_max_s, self.retry_base_s * 2 ** (self.failures - 1))
        return self.state

    def stop(self) -> None:
        self.state = RegState.IDLE
        self.next_at = None
