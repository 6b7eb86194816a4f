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


class NumberType(IntEnum):
    """Q.931 4.5.8 octet 3 bits 7-5: type of number."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER = 4
    ABBREVIATED = 6


class NumberingPlan(IntEnum):
    """Q.931 4.5.8 octet 3 bits 4-1: numbering plan identification."""

    UNKNOWN = 0
    ISDN = 1
    DATA = 3
    TELEX = 4
    NATIONAL = 8
    PRIVATE = 9


class Presentation(IntEnum):
    """Q.931 4.5.8 octet 3a bits 7-6: presentation indicator."""

    ALLOWED = 0
    RESTRICTED = 1
    NOT_AVAILABLE = 2


class Screening(IntEnum):
    """Q.931 4.5.8 octet 3a bits 2-1: screening indicator."""

    USER_NOT_SCREENED = 0
    USER_PASSED = 1
    USER_FAILED = 2
    NETWORK = 3


class RedirectReason(IntEnum):
    """Q.931 (Q.952 s7.1.2) redirecting number octet 3b: reason for redirection."""

    UNKNOWN = 0
    BUSY = 1
    NO_REPLY = 2
    DEFLECTION = 4
    DTE_OUT_OF_ORDER = 9
    BY_CALLED_DTE = 10
    UNCONDITIONAL = 15


@dataclass(frozen=True)
class Party:
    """A party number with everything the number IE says about it."""

    digits: str
    type: int = NumberType.UNKNOWN
    plan: int = NumberingPlan.ISDN
    presentation: int = Presentation.ALLOWED
    screening: int = Screening.USER_NOT_SCREENED

    @property
    def restricted(self) -> bool:
        return self.presentation != Presentation.ALLOWED

    def to_event(self) -> dict[str, Any]:
        return {
            "digits": self.digits,
            "type": _name(NumberType, self.type),
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
    reason: int = RedirectReason.UNKNOWN
    original_called: Party | None = None
    original_reason: int | None = None

    def to_event(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "redirecting": self.redirecting.to_event(),
            "reason": _name(RedirectReason, self.reason),
        }
        if self.original_called is not None:
            out["original_called"] = self.original_called.to_event()
        if self.original_reason is not None:
            out["original_reason"] = _name(RedirectReason, self.original_reason)
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
