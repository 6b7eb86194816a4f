"""Reliable provisional responses (RFC 3262) and session timers (RFC 4028), sans-I/O.

What:
- `ReliableProvisional` (UAS side): each reliable 18x gets the next RSeq
  (RFC 3262 s3, starting at a random value below 2**31), is retransmitted at T1,
  2*T1, 4*T1 ... until a PRACK whose RAck matches (s3, s7.2) arrives, and after
  64*T1 without one the INVITE is to be refused with 504 (s3: "SHOULD reject
  the original request with a 5xx").
- `PrackState` (UAC side): which reliable 18x still need a PRACK; a
  retransmission with an RSeq already acknowledged needs none (s4).
- `SessionTimer`: Session-Expires and Min-SE negotiation (RFC 4028 s7, s8, s9),
  the refresher refreshing at half the interval (s10) and the other side
  sending BYE when no refresh came by the interval minus min(32, interval/3) (s10).
- `check_require`: option tags of a Require the gateway does not support,
  for a 420 with Unsupported (RFC 3261 s8.2.2.3).

How: time injected; `get_timer()` / `handle_timer(now)` return what to do.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

SUPPORTED_OPTIONS = frozenset({"100rel", "timer", "replaces"})
T1 = 0.5
MIN_SE_FLOOR = 90  # RFC 4028 s5: Min-SE is never below 90 s


def check_require(values: list[str]) -> list[str]:
    """Option tags in Require header values that we do not support (RFC 3261 s20.32)."""
    tags = [t.strip() for v in values for t in v.split(",") if t.strip()]
    return [t for t in tags if t.lower() not in SUPPORTED_OPTIONS]


def has_option(values: list[str], tag: str) -> bool:
    return any(t.strip().lower() == tag for v in values for t in v.split(","))


@dataclass
class ReliableProvisional:
    """One INVITE server transaction's reliable provisional responses."""

    rseq: int = field(default_factory=lambda: secrets.randbelow(2**31 - 2) + 1)
    pending: int | None = None
    sent_at: float = 0.0
    next_at: float | None = None
    interval: float = T1

    def send(self, now: float) -> int:
        """A new reliable 18x goes out now; its RSeq.  (s3: one unacknowledged at a time.)"""
        if self.pending is not None:
            raise RuntimeError("RFC 3262 s3: the previous reliable provisional is not PRACKed yet")
        self.rseq += 1
        self.pending = self.rseq
        self.sent_at = now
        self.interval = T1
        self.next_at = now + T1
        return self.rseq

    @property
    def busy(self) -> bool:
        return self.pending is not None

    def get_timer(self) -> float | None:
        return self.next_at if self.pending is not None else None

    def handle_timer(self, now: float) -> Literal["retransmit", "give_up"] | None:
        if self.pending is None or self.next_at is None or now < self.next_at:
            return None
        if now - self.sent_at >= 64 * T1:
            self.pending = None
            self.next_at = None
            return "give_up"
        self.interval = min(self.interval * 2, 4.0 * 8)  # doubling, no T2 cap (s3)
        self.next_at = now + self.interval
        return "retransmit"

    def prack(self, rack: str, invite_cseq: int) -> bool:
        """An RAck value `rseq cseq INVITE`: True when it acknowledges the pending 18x."""
        parts = rack.split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return False
        if parts[2].upper() != "INVITE" or int(parts[1]) != invite_cseq:
            return False
        if self.pending is None or int(parts[0]) != self.pending:
            return False
        self.pending = None
        self.next_at = None
        return True

    def finish(self) -> None:
        """A final response went out: stop retransmitting."""
        self.pending = None
        self.next_at = None


@dataclass
class PrackState:
    """UAC side: the highest RSeq acknowledged, per early dialog (to-tag)."""

    last: dict[str, int] = field(default_factory=dict)

    def needs_prack(self, to_tag: str, rseq: int) -> bool:
        prev = self.last.get(to_tag)
        if prev is not None and rseq <= prev:
            return False  # a retransmission (RFC 3262 s4)
        self.last[to_tag] = rseq
        return True


Refresher = Literal["uac", "uas"]


@dataclass(frozen=True)
class SessionParams:
    interval: int
    refresher: Refresher


def parse_session_expires(value: str) -> SessionParams:
    """`1800;refresher=uac` -> SessionParams (RFC 4028 s4); missing refresher: uas."""
    head, *params = value.split(";")
    if not head.strip().isdigit():
        raise ValueError(f"Session-Expires {value!r} is not delta-seconds")
    refresher: Refresher = "uas"
    for p in params:
        name, _, val = p.partition("=")
        if name.strip().lower() == "refresher" and val.strip().lower() in ("uac", "uas"):
            refresher = val.strip().lower()  # type: ignore[assignment]
    return SessionParams(int(head.strip()), refresher)


def uas_negotiate(session_expires: str | None, min_se: str | None, peer_supports_timer: bool,
                  local_interval: int, local_min_se: int) -> tuple[int, SessionParams | None]:
    """RFC 4028 s9: (status, params).  Status 422 means "too small, here is our Min-SE".

    With no Session-Expires in the request we still run a timer of our own
    interval when the peer supports it (s9: the UAS MAY add one).
    """
    if session_expires is None:
        if peer_supports_timer:
            return 200, SessionParams(local_interval, "uac")
        return 200, None
    params = parse_session_expires(session_expires)
    if params.interval < local_min_se:
        return 422, None
    interval = min(params.interval, max(local_interval, local_min_se))
    if min_se and min_se.split(";")[0].strip().isdigit():
        interval = max(interval, int(min_se.split(";")[0].strip()))
    refresher: Refresher = params.refresher if ";refresher=" in session_expires.replace(" ", "") \
        else ("uac" if peer_supports_timer else "uas")
    return 200, SessionParams(interval, refresher)


@dataclass
class SessionTimer:
    """A running session timer: refresh at interval/2, or expect one (RFC 4028 s10)."""

    params: SessionParams
    we_refresh: bool
    started: float
    next_at: float = 0.0

    def __post_init__(self) -> None:
        self.refreshed(self.started)

    def refreshed(self, now: float) -> None:
        """A refresh went through (our 2xx received, or the peer's request answered)."""
        self.started = now
        iv = self.params.interval
        self.next_at = now + (iv / 2 if self.we_refresh else iv - min(32, iv / 3))

    def get_timer(self) -> float:
        return self.next_at

    def handle_timer(self, now: float) -> Literal["refresh", "expire"] | None:
        if now < self.next_at:
            return None
        if self.we_refresh:
            self.next_at = now + self.params.interval / 2
            return "refresh"
        return "expire"
