"""Party number IEs (Q.931 4.5.8-4.5.10, Q.951 connected number, Q.952 / T1.607
redirecting, redirection and original called number).

Octet 3 carries type of number and numbering plan; octet 3a (present when
octet 3's extension bit is 0) presentation and screening; octet 3b (redirecting
numbers) the reason for redirection.  Any further extension octets a variant
sends are kept verbatim in `extra`.  Digits are IA5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from .base import OctetReader, VariableIE, ia5, invalid, to_ia5
from .codes import IEId


def _groups(ie_id: int, body: bytes) -> tuple[list[int], bytes]:
    """Split octet 3 and its extension octets (3a, 3b, ...) from the digits."""
    r = OctetReader(ie_id, body)
    octets = [r.octet("octet 3")]
    while not octets[-1] & 0x80:
        octets.append(r.octet(f"octet 3{chr(ord('a') + len(octets) - 1)}"))
    return octets, r.rest()


def _join(octets: list[int]) -> bytes:
    return bytes([o | (0x80 if i == len(octets) - 1 else 0) for i, o in enumerate(octets)])


@dataclass(frozen=True)
class CalledPartyNumber(VariableIE):
    """Q.931 4.5.8 called party number (octet 3 only)."""

    digits: str = ""
    type_of_number: int = 0
    plan: int = 1

    ID: ClassVar[int] = IEId.CALLED_PARTY_NUMBER

    def body(self) -> bytes:
        return bytes([0x80 | (self.type_of_number << 4) | self.plan]) + to_ia5(self.digits)

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if not body or not body[0] & 0x80:
            raise invalid(cls.ID, "octet 3 extension bit")
        return cls(ia5(body[1:]), (body[0] >> 4) & 7, body[0] & 0x0F, codeset=codeset)


@dataclass(frozen=True)
class _PresentedNumber(VariableIE):
    """Octet 3 plus optional 3a (presentation, screening) and 3b (reason)."""

    digits: str = ""
    type_of_number: int = 0
    plan: int = 1
    presentation: int | None = None
    screening: int | None = None
    reason: int | None = None
    extra: bytes = b""

    HAS_REASON: ClassVar[bool] = False

    def body(self) -> bytes:
        octets = [(self.type_of_number << 4) | self.plan]
        if self.presentation is not None or self.screening is not None or self.reason is not None:
            octets.append(((self.presentation or 0) << 5) | (self.screening or 0))
        if self.reason is not None:
            octets.append(self.reason)
        out = _join(octets)
        if self.extra:
            out = out[:-1] + bytes([out[-1] & 0x7F]) + self.extra
        return out + to_ia5(self.digits)

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        octets, digits = _groups(cls.ID, body)
        o3 = octets[0]
        pres = scr = reason = None
        extra = b""
        if len(octets) > 1:
            o3a = octets[1] & 0x7F
            if o3a & 0x1C:
                raise invalid(cls.ID, "octet 3a spare bits")
            pres, scr = o3a >> 5, o3a & 0x03
        if len(octets) > 2:
            if not cls.HAS_REASON:
                raise invalid(cls.ID, "extension octet after 3a")
            o3b = octets[2] & 0x7F
            if o3b & 0x70:
                raise invalid(cls.ID, "octet 3b spare bits")
            reason = o3b
        if len(octets) > 3:
            extra = bytes(octets[3:])
        return cls(ia5(digits), (o3 >> 4) & 7, o3 & 0x0F, pres, scr, reason, extra,
                   codeset=codeset)


@dataclass(frozen=True)
class CallingPartyNumber(_PresentedNumber):
    """Q.931 4.5.10 calling party number."""

    ID: ClassVar[int] = IEId.CALLING_PARTY_NUMBER


@dataclass(frozen=True)
class ConnectedNumber(_PresentedNumber):
    """Q.951 8.2.2 connected number (same layout as calling party number)."""

    ID: ClassVar[int] = IEId.CONNECTED_NUMBER


@dataclass(frozen=True)
class RedirectionNumber(_PresentedNumber):
    """Q.952 redirection number (octets 3, 3a)."""

    ID: ClassVar[int] = IEId.REDIRECTION_NUMBER


@dataclass(frozen=True)
class RedirectingNumber(_PresentedNumber):
    """Q.952 / T1.607 redirecting number; `reason` is octet 3b's reason for redirection."""

    ID: ClassVar[int] = IEId.REDIRECTING_NUMBER
    HAS_REASON: ClassVar[bool] = True


@dataclass(frozen=True)
class OriginalCalledNumber(_PresentedNumber):
    """T1.607 / NI-2 original called number (layout of redirecting number; octets
    after 3b, such as a redirection counter, are kept in `extra`)."""

    ID: ClassVar[int] = IEId.ORIGINAL_CALLED_NUMBER
    HAS_REASON: ClassVar[bool] = True
