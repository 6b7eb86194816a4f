"""Information element base classes, unknown/invalid holders and single-octet IEs.

Q.931 4.5.1: variable-length IEs are identifier, length, contents; single-octet
IEs have bit 8 set (type 1: identifier in bits 7-5, value in bits 4-1; type 2:
the whole octet).  Every IE encodes to the exact octets it was decoded from:
the message decoder checks that and keeps anything it cannot type as
`InvalidIE` (with the Q.850 cause) or `UnknownIE`, never dropping it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from ..errors import Q931Error


@dataclass(frozen=True)
class InformationElement:
    """Base of every IE; `codeset` is the codeset the IE is (to be) sent in."""

    codeset: int = field(default=0, kw_only=True)

    ID: ClassVar[int] = -1

    @property
    def ie_id(self) -> int:
        return self.ID

    def encode(self) -> bytes:
        raise NotImplementedError


@dataclass(frozen=True)
class VariableIE(InformationElement):
    """A variable-length IE with a typed body (`body()` / `from_body()`)."""

    def body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        raise NotImplementedError

    def encode(self) -> bytes:
        b = self.body()
        if len(b) > 255:
            raise ValueError(f"{type(self).__name__}: contents of {len(b)} octets exceed 255")
        return bytes([self.ie_id, len(b)]) + b


@dataclass(frozen=True)
class UnknownIE(InformationElement):
    """A variable-length IE this codec has no type for (kept verbatim; Q.931 5.8.7.1)."""

    identifier: int = 0
    data: bytes = b""

    @property
    def ie_id(self) -> int:
        return self.identifier

    @property
    def comprehension_required(self) -> bool:
        """Q.931 4.5.1: codeset 0 identifiers 0000xxxx must be understood."""
        return self.codeset == 0 and self.identifier & 0xF0 == 0

    def encode(self) -> bytes:
        return bytes([self.identifier, len(self.data)]) + self.data


@dataclass(frozen=True)
class InvalidIE(InformationElement):
    """An IE whose contents are wrong (Q.931 5.8.7.2); `raw` is every octet of it.

    `cause` is the Q.850 cause to report (100 invalid IE contents), `reason`
    says what was wrong.  A truncated last IE is kept here too.
    """

    identifier: int = 0
    raw: bytes = b""
    cause: int = 100
    reason: str = ""

    @property
    def ie_id(self) -> int:
        return self.identifier

    def encode(self) -> bytes:
        return self.raw


@dataclass(frozen=True)
class Shift(InformationElement):
    """Q.931 4.5.3/4.5.4: locking (0x90|cs) or non-locking (0x98|cs) shift."""

    target: int = 0
    locking: bool = True

    ID: ClassVar[int] = 0x90

    def encode(self) -> bytes:
        if not 0 <= self.target <= 7:
            raise ValueError("shift target codeset must be 0..7")
        return bytes([0x90 | (0 if self.locking else 0x08) | self.target])


@dataclass(frozen=True)
class SendingComplete(InformationElement):
    """Q.931 4.5.27: single-octet type 2, 0xA1."""

    ID: ClassVar[int] = 0xA1

    def encode(self) -> bytes:
        return b"\xa1"


@dataclass(frozen=True)
class MoreData(InformationElement):
    """Q.931 4.5.19: single-octet type 2, 0xA0."""

    ID: ClassVar[int] = 0xA0

    def encode(self) -> bytes:
        return b"\xa0"


@dataclass(frozen=True)
class CongestionLevel(InformationElement):
    """Q.931 4.5.14: single-octet type 1, 0xB0 | level."""

    level: int = 0

    ID: ClassVar[int] = 0xB0

    def encode(self) -> bytes:
        return bytes([0xB0 | (self.level & 0x0F)])


@dataclass(frozen=True)
class RepeatIndicator(InformationElement):
    """Q.931 4.5.24: single-octet type 1, 0xD0 | indication."""

    indication: int = 0

    ID: ClassVar[int] = 0xD0

    def encode(self) -> bytes:
        return bytes([0xD0 | (self.indication & 0x0F)])


@dataclass(frozen=True)
class UnknownSingleOctet(InformationElement):
    """A single-octet IE with no type here (kept verbatim)."""

    octet: int = 0x80

    @property
    def ie_id(self) -> int:
        return self.octet

    def encode(self) -> bytes:
        return bytes([self.octet])


def decode_single_octet(octet: int, codeset: int) -> InformationElement:
    """Decode a single-octet IE (bit 8 set) other than shift, in `codeset`."""
    if codeset == 0:
        if octet == 0xA1:
            return SendingComplete(codeset=codeset)
        if octet == 0xA0:
            return MoreData(codeset=codeset)
        if octet & 0xF0 == 0xB0:
            return CongestionLevel(octet & 0x0F, codeset=codeset)
        if octet & 0xF0 == 0xD0:
            return RepeatIndicator(octet & 0x0F, codeset=codeset)
    return UnknownSingleOctet(octet, codeset=codeset)


class OctetReader:
    """Reads an IE body octet by octet, raising Q931Error(100) when it runs short."""

    def __init__(self, ie_id: int, body: bytes) -> None:
        self.ie_id = ie_id
        self.body = body
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.body)

    def octet(self, what: str) -> int:
        if self.pos >= len(self.body):
            raise invalid(self.ie_id, f"missing {what}")
        v = self.body[self.pos]
        self.pos += 1
        return v

    def rest(self) -> bytes:
        r = self.body[self.pos:]
        self.pos = len(self.body)
        return r


def invalid(ie_id: int, reason: str) -> Q931Error:
    """The error for invalid IE contents (Q.850 cause 100, diagnostic the IE id)."""
    return Q931Error(100, f"IE 0x{ie_id:02x}: {reason}", diagnostic=bytes([ie_id & 0xFF]))


def ia5(data: bytes) -> str:
    """IA5 octets as text; octets with bit 8 set survive (latin-1) so nothing is lost."""
    return data.decode("latin-1")


def to_ia5(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as e:
        raise ValueError(f"not IA5/latin-1 text: {text!r}") from e
