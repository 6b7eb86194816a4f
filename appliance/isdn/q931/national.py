"""IEs outside codeset 0 that the variants send (codesets 4-6).

- Codeset 6, North American switches (ANSI T1.607 / Telcordia GR-4434, as
  libpri sends them): originating line information 0x01 (ANI II digits),
  generic digits 0x37 (account codes, authorisation codes...).
- Codeset 5 (national, ETSI/Russian variants in libpri): calling party
  category 0x32.
- Codeset 4 (QSIG, ECMA-143): transit counter 0x31.

Facility and display in codeset 6 use the codeset-0 classes with
`codeset=6` (see messages.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from .base import VariableIE, invalid


class DigitsEncoding(IntEnum):
    """Generic digits encoding scheme (T1.607, octet 3 bits 8-6)."""

    BCD_EVEN = 0
    BCD_ODD = 1
    IA5 = 2
    BINARY = 3


@dataclass(frozen=True)
class OriginatingLineInfo(VariableIE):
    """Codeset 6 0x01: originating line information (ANI II), one octet."""

    value: int = 0

    ID: ClassVar[int] = 0x01

    def body(self) -> bytes:
        return bytes([self.value])

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if len(body) != 1:
            raise invalid(cls.ID, "length must be 1")
        return cls(body[0], codeset=codeset)


@dataclass(frozen=True)
class GenericDigits(VariableIE):
    """Codeset 6 0x37: generic digits: encoding scheme, type of digits, digit octets."""

    digits_type: int = 0
    encoding: int = DigitsEncoding.IA5
    data: bytes = b""

    ID: ClassVar[int] = 0x37

    def body(self) -> bytes:
        return bytes([(self.encoding << 5) | self.digits_type]) + self.data

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if not body:
            raise invalid(cls.ID, "no octet 3")
        return cls(body[0] & 0x1F, body[0] >> 5, body[1:], codeset=codeset)

    @property
    def digits(self) -> str:
        """The digits as text (IA5 as is; BCD nibbles low first, odd count trimmed)."""
        if self.encoding in (DigitsEncoding.BCD_EVEN, DigitsEncoding.BCD_ODD):
            out = "".join(f"{b & 0x0F:x}{b >> 4:x}" for b in self.data)
            return out[:-1] if self.encoding == DigitsEncoding.BCD_ODD and out else out
        return self.data.decode("latin-1")


@dataclass(frozen=True)
class CallingPartyCategory(VariableIE):
    """Codeset 5 0x32: calling party category, one octet."""

    category: int = 0

    ID: ClassVar[int] = 0x32

    def body(self) -> bytes:
        return bytes([self.category])

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if len(body) != 1:
            raise invalid(cls.ID, "length must be 1")
        return cls(body[0], codeset=codeset)


@dataclass(frozen=True)
class TransitCounter(VariableIE):
    """Codeset 4 0x31 (QSIG, ECMA-143): transit count, octet 3 bits 5-1, extension set."""

    count: int = 0

    ID: ClassVar[int] = 0x31

    def body(self) -> bytes:
        return bytes([0x80 | self.count])

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if len(body) != 1 or body[0] & 0xE0 != 0x80:
            raise invalid(cls.ID, "expected 1 octet 100c cccc")
        return cls(body[0] & 0x1F, codeset=codeset)
