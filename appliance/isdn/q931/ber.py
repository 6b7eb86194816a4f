"""A small BER (X.690) reader/writer for the ROSE components of facility IEs.

Definite lengths only (Q.932 and ECMA-165 forbid nothing else in practice and
libpri sends definite lengths); the writer always uses the minimal length and
integer forms, so a reader result re-encodes to the same octets exactly when
the sender used minimal forms too (the facility decoder checks this).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BerError

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3
INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 2, 4, 5, 6, 16


@dataclass(frozen=True)
class Tlv:
    """One BER element: tag class, constructed bit, tag number, contents octets."""

    tag_class: int
    constructed: bool
    number: int
    value: bytes

    def encode(self) -> bytes:
        return encode_tlv(self.tag_class, self.constructed, self.number, self.value)

    def children(self) -> list[Tlv]:
        if not self.constructed:
            raise BerError(f"tag {self.number} is primitive, has no elements")
        return read_all(self.value)

    def is_(self, tag_class: int, number: int) -> bool:
        return self.tag_class == tag_class and self.number == number


def encode_tlv(tag_class: int, constructed: bool, number: int, value: bytes) -> bytes:
    first = (tag_class << 6) | (0x20 if constructed else 0)
    if number < 31:
        ident = bytes([first | number])
    else:
        parts = [number & 0x7F]
        n = number >> 7
        while n:
            parts.append(0x80 | (n & 0x7F))
            n >>= 7
        ident = bytes([first | 0x1F, *reversed(parts)])
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return ident + length + value


def read_tlv(data: bytes, pos: int = 0) -> tuple[Tlv, int]:
    """Read one element at `pos`; return it and the position after it."""
    end = len(data)
    if pos >= end:
        raise BerError("BER: no element")
    first = data[pos]
    pos += 1
    number = first & 0x1F
    if number == 0x1F:
        number = 0
        for _ in range(4):
            if pos >= end:
                raise BerError("BER: tag truncated")
            b = data[pos]
            pos += 1
            number = (number << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        else:
            raise BerError("BER: tag number too long")
    if pos >= end:
        raise BerError("BER: length missing")
    ln = data[pos]
    pos += 1
    if ln == 0x80:
        raise BerError("BER: indefinite length not supported")
    if ln & 0x80:
        k = ln & 0x7F
        if k > 3 or pos + k > end:
            raise BerError("BER: bad long-form length")
        ln = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    if pos + ln > end:
        raise BerError("BER: contents overrun")
    return Tlv(first >> 6, bool(first & 0x20), number, data[pos:pos + ln]), pos + ln


def read_all(data: bytes) -> list[Tlv]:
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        t, pos = read_tlv(data, pos)
        out.append(t)
    return out


def decode_int(value: bytes) -> int:
    if not value or len(value) > 8:
        raise BerError("BER: bad INTEGER length")
    return int.from_bytes(value, "big", signed=True)


def encode_int_value(v: int) -> bytes:
    n = 1
    while not -(1 << (8 * n - 1)) <= v < (1 << (8 * n - 1)):
        n += 1
    return v.to_bytes(n, "big", signed=True)


def integer(v: int, tag_class: int = UNIVERSAL, number: int = INTEGER) -> bytes:
    return encode_tlv(tag_class, False, number, encode_int_value(v))


def decode_oid(value: bytes) -> tuple[int, ...]:
    if not value or value[-1] & 0x80:
        raise BerError("BER: bad OBJECT IDENTIFIER")
    arcs: list[int] = []
    n = 0
    for b in value:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(n)
            n = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return (*head, *arcs[1:])


def encode_oid_value(arcs: tuple[int, ...]) -> bytes:
    if len(arcs) < 2:
        raise ValueError("an OID needs two arcs at least")
    out = bytearray()
    for arc in (40 * arcs[0] + arcs[1], *arcs[2:]):
        parts = [arc & 0x7F]
        arc >>= 7
        while arc:
            parts.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(parts))
    return bytes(out)
