"""Variant-neutral call facts: what ISDN says about a call, in a form SIP and CTI share.

What: parties (number, type of number, numbering plan, presentation, screening),
names with their presentation, redirection (redirecting number with its reason,
original called number), user-user information with its protocol
discriminator, and causes with location and diagnostics.  The ISDN side fills
these from Q.931 IEs (Q.931 4.5.8 calling party number, 4.5.10 cause, Q.952
redirecting number, 4.5.30 user-user); the SIP side maps them to headers
(`appliance.interwork.sipheaders`); CTI events carry them as `to_event()` dicts.

Limits: codes outside the enumerations are kept as plain ints, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from appliance.isdn.q931.codes import (
    NumberingPlan,
    Presentation,
    RedirectionReason,
    Screening,
    TypeOfNumber,
)

__all__ = [
    "CallFacts", "CauseFact", "Name", "NumberingPlan", "Party", "Presentation",
    "Redirection", "RedirectionReason", "Screening", "TypeOfNumber", "UserToUser",
]


@dataclass(frozen=True)
class Party:
    """A party number with everything the number IE says about it."""

    digits: str
    type: int = TypeOfNumber.UNKNOWN
    plan: int = NumberingPlan.ISDN_E164
    presentation: int = Presentation.ALLOWED
    screening: int = Screening.USER_NOT_SCREENED

    @property
    def restricted(self) -> bool:
        return self.presentation != Presentation.ALLOWED

    def to_event(self) -> dict[str, Any]:
        return {
            "digits": self.digits,
            "type": _name(TypeOfNumber, self.type),
            "plan": _name(NumberingPlan, self.plan),
            "presentation": _name(Presentation, self.presentation),
            "screening": _name(Screening, self.screening),
        }


@dataclass(frozen=True)
class Name:
    """A calling or connected name (display IE, NI-2 or QSIG name in Facility)."""

    text: str
    presentation: int = Presentation.ALLOWED

    def to_event(self) -> dict[str, Any]:
        return {"text": self.text, "presentation": _name(Presentation, self.presentation)}


@dataclass(frozen=True)
class Redirection:
    """Who forwarded the call, why, and whom the caller first dialled."""

    redirecting: Party
    reason: int = RedirectionReason.UNKNOWN
    original_called: Party | None = None
    original_reason: int | None = None
    count: int | None = None  # diversions so far (QSIG/ETSI diversionCounter, RFC 5806 counter)

    def __post_init__(self) -> None:
        if self.count is not None and not 1 <= self.count <= 15:
            raise ValueError(f"diversion count {self.count} is outside 1..15 (ECMA-174)")

    def to_event(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "redirecting": self.redirecting.to_event(),
            "reason": _name(RedirectionReason, self.reason),
        }
        if self.original_called is not None:
            out["original_called"] = self.original_called.to_event()
        if self.original_reason is not None:
            out["original_reason"] = _name(RedirectionReason, self.original_reason)
        if self.count is not None:
            out["count"] = self.count
        return out


@dataclass(frozen=True)
class UserToUser:
    """User-user IE contents (Q.931 4.5.30): protocol discriminator and data."""

    protocol: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.protocol <= 255:
            raise ValueError(f"UUI protocol discriminator {self.protocol} is not a byte")
        if len(self.data) > 131:
            raise ValueError(f"UUI of {len(self.data)} bytes exceeds Q.931's 131 octets")

    def to_event(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "hex": self.data.hex()}


@dataclass(frozen=True)
class CauseFact:
    """A Q.850 cause with its location and diagnostics (Q.850 s2)."""

    value: int
    location: int = 0
    diagnostics: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 127:
            raise ValueError(f"Q.850 cause {self.value} is outside 0..127")
        if not 0 <= self.location <= 15:
            raise ValueError(f"Q.850 location {self.location} is outside 0..15")

    def to_event(self) -> dict[str, Any]:
        return {"value": self.value, "location": self.location,
                "diagnostics": self.diagnostics.hex()}


@dataclass(frozen=True)
class CallFacts:
    """Everything known about a call's parties and data, ISDN or SIP born."""

    calling: Party | None = None
    calling_name: Name | None = None
    called: Party | None = None
    redirection: Redirection | None = None
    uui: UserToUser | None = None
    cause: CauseFact | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def to_event(self) -> dict[str, Any]:
        """The CTI view: the same facts, unchanged, as plain JSON-able values."""
        out: dict[str, Any] = {}
        if self.calling is not None:
            out["calling"] = self.calling.to_event()
        if self.calling_name is not None:
            out["calling_name"] = self.calling_name.to_event()
        if self.called is not None:
            out["called"] = self.called.to_event()
        if self.redirection is not None:
            out["redirection"] = self.redirection.to_event()
        if self.uui is not None:
            out["uui"] = self.uui.to_event()
        if self.cause is not None:
            out["cause"] = self.cause.to_event()
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


def _name(enum: type[IntEnum], value: int) -> str | int:
    try:
        return enum(value).name.lower()
    except ValueError:
        return value
