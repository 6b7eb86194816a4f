"""Facility IE (Q.932 8.2.3) with ROSE components, and the name operations.

Contents: octet 3 protocol profile (0x11 remote operations, Q.932; 0x1F
networking extensions, QSIG / ECMA-165), then BER elements: for QSIG an
optional network facility extension [10], network protocol profile [18] and
interpretation APDU [11], then ROSE components (X.880 / Q.932 8.2.3.1):
invoke [1], returnResult [2], returnError [3], reject [4].  Elements this
module does not type are kept as `Tlv`; a component whose encoding is not the
minimal one is kept as `Tlv` too, so the IE always re-encodes exactly.

Names: QSIG name presentation (ECMA-164 / ISO 13868: callingName 0,
calledName 1, connectedName 2, busyName 3, argument `Name`); NI-2 switches
(Avaya among them) send the calling name with the same operation value and
argument in a Q.932 ROSE facility.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from ..errors import BerError, Q931Error
from . import ber
from .base import VariableIE, invalid
from .codes import IEId

Opcode = int | tuple[int, ...]


class Profile(IntEnum):
    """Facility IE protocol profile (Q.932 8.2.3 / ECMA-165)."""

    ROSE = 0x11
    CMIP = 0x12
    ACSE = 0x13
    NETWORKING_EXTENSIONS = 0x1F


# NI-2 "InformationFollowing" (the calling name comes in a later FACILITY), the
# global operation value libpri 1.6 sends for it in SETUP.
NI2_INFORMATION_FOLLOWING: tuple[int, ...] = (1, 2, 840, 10005, 0, 4)


class NameOp(IntEnum):
    """ECMA-164 name operations (local values)."""

    CALLING_NAME = 0
    CALLED_NAME = 1
    CONNECTED_NAME = 2
    BUSY_NAME = 3


def _opcode(t: ber.Tlv) -> Opcode:
    if t.is_(ber.UNIVERSAL, ber.INTEGER) and not t.constructed:
        return ber.decode_int(t.value)
    if t.is_(ber.UNIVERSAL, ber.OID) and not t.constructed:
        return ber.decode_oid(t.value)
    raise BerError("ROSE: operation value is neither INTEGER nor OID")


def _encode_opcode(op: Opcode) -> bytes:
    if isinstance(op, int):
        return ber.integer(op)
    return ber.encode_tlv(ber.UNIVERSAL, False, ber.OID, ber.encode_oid_value(op))


def _invoke_id(t: ber.Tlv) -> int:
    if not t.is_(ber.UNIVERSAL, ber.INTEGER) or t.constructed:
        raise BerError("ROSE: invokeId is not an INTEGER")
    return ber.decode_int(t.value)


@dataclass(frozen=True)
class Invoke:
    """ROSE invoke [1]: invoke id, optional linked id [0], operation, argument (raw TLV)."""

    invoke_id: int
    opcode: Opcode
    argument: bytes | None = None
    linked_id: int | None = None

    def encode(self) -> bytes:
        v = ber.integer(self.invoke_id)
        if self.linked_id is not None:
            v += ber.integer(self.linked_id, ber.CONTEXT, 0)
        v += _encode_opcode(self.opcode) + (self.argument or b"")
        return ber.encode_tlv(ber.CONTEXT, True, 1, v)

    @classmethod
    def from_tlv(cls, t: ber.Tlv) -> Self:
        el = t.children()
        if len(el) < 2:
            raise BerError("ROSE invoke: too few elements")
        iid = _invoke_id(el[0])
        linked = None
        i = 1
        if el[1].is_(ber.CONTEXT, 0) and not el[1].constructed:
            linked = ber.decode_int(el[1].value)
            i = 2
        if i >= len(el):
            raise BerError("ROSE invoke: no operation value")
        op = _opcode(el[i])
        rest = el[i + 1:]
        if len(rest) > 1:
            raise BerError("ROSE invoke: more than one argument")
        return cls(iid, op, rest[0].encode() if rest else None, linked)


@dataclass(frozen=True)
class ReturnResult:
    """ROSE returnResult [2]: invoke id and optional (operation, result TLV)."""

    invoke_id: int
    opcode: Opcode | None = None
    result: bytes | None = None

    def encode(self) -> bytes:
        v = ber.integer(self.invoke_id)
        if self.opcode is not None:
            v += ber.encode_tlv(ber.UNIVERSAL, True, ber.SEQUENCE,
                                _encode_opcode(self.opcode) + (self.result or b""))
        return ber.encode_tlv(ber.CONTEXT, True, 2, v)

    @classmethod
    def from_tlv(cls, t: ber.Tlv) -> Self:
        el = t.children()
        if not el or len(el) > 2:
            raise BerError("ROSE returnResult: bad element count")
        iid = _invoke_id(el[0])
        if len(el) == 1:
            return cls(iid)
        if not el[1].is_(ber.UNIVERSAL, ber.SEQUENCE) or not el[1].constructed:
            raise BerError("ROSE returnResult: result is not a SEQUENCE")
        inner = el[1].children()
        if not inner or len(inner) > 2:
            raise BerError("ROSE returnResult: bad result SEQUENCE")
        return cls(iid, _opcode(inner[0]), inner[1].encode() if len(inner) == 2 else None)


@dataclass(frozen=True)
class ReturnError:
    """ROSE returnError [3]: invoke id, error value, optional parameter TLV."""

    invoke_id: int
    error: Opcode
    parameter: bytes | None = None

    def encode(self) -> bytes:
        v = ber.integer(self.invoke_id) + _encode_opcode(self.error) + (self.parameter or b"")
        return ber.encode_tlv(ber.CONTEXT, True, 3, v)

    @classmethod
    def from_tlv(cls, t: ber.Tlv) -> Self:
        el = t.children()
        if not 2 <= len(el) <= 3:
            raise BerError("ROSE returnError: bad element count")
        return cls(_invoke_id(el[0]), _opcode(el[1]), el[2].encode() if len(el) == 3 else None)


@dataclass(frozen=True)
class Reject:
    """ROSE reject [4]: invoke id (None = NULL) and problem [0..3] with its value."""

    invoke_id: int | None
    problem_type: int
    problem: int

    def encode(self) -> bytes:
        v = (ber.encode_tlv(ber.UNIVERSAL, False, ber.NULL, b"") if self.invoke_id is None
             else ber.integer(self.invoke_id))
        v += ber.integer(self.problem, ber.CONTEXT, self.problem_type)
        return ber.encode_tlv(ber.CONTEXT, True, 4, v)

    @classmethod
    def from_tlv(cls, t: ber.Tlv) -> Self:
        el = t.children()
        if len(el) != 2:
            raise BerError("ROSE reject: bad element count")
        iid = None if el[0].is_(ber.UNIVERSAL, ber.NULL) and not el[0].value else _invoke_id(el[0])
        p = el[1]
        if p.tag_class != ber.CONTEXT or p.constructed or p.number > 3:
            raise BerError("ROSE reject: bad problem")
        return cls(iid, p.number, ber.decode_int(p.value))


Component = Invoke | ReturnResult | ReturnError | Reject | ber.Tlv
_ROSE: dict[int, type[Invoke] | type[ReturnResult] | type[ReturnError] | type[Reject]] = {
    1: Invoke, 2: ReturnResult, 3: ReturnError, 4: Reject}


def decode_component(t: ber.Tlv) -> Component:
    """A ROSE component if `t` is one and re-encodes exactly, else `t` itself."""
    cls = _ROSE.get(t.number) if t.tag_class == ber.CONTEXT and t.constructed else None
    if cls is None:
        return t
    try:
        comp: Component = cls.from_tlv(t)
    except BerError:
        return t
    return comp if comp.encode() == t.encode() else t


@dataclass(frozen=True)
class Facility(VariableIE):
    """Q.932 facility IE: protocol `profile` and BER `components` in order."""

    profile: int = Profile.ROSE
    components: tuple[Component, ...] = ()
    profile_ext: bytes = b""

    ID: ClassVar[int] = IEId.FACILITY

    def body(self) -> bytes:
        head = bytes([(0x00 if self.profile_ext else 0x80) | self.profile]) + self.profile_ext
        return head + b"".join(c.encode() for c in self.components)

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if not body or body[0] & 0x60:
            raise invalid(cls.ID, "protocol profile octet")
        # DMS-100 (libpri) clears octet 3's extension bit and sends one more
        # octet (e.g. 0x11 0xBE for RLT): kept verbatim in `profile_ext`.
        n = 1
        while not body[n - 1] & 0x80:
            if n >= len(body):
                raise invalid(cls.ID, "protocol profile extension runs out")
            n += 1
        try:
            comps = tuple(decode_component(t) for t in ber.read_all(body[n:]))
        except BerError as e:
            raise invalid(cls.ID, e.detail) from e
        return cls(body[0] & 0x1F, comps, body[1:n], codeset=codeset)

    def invokes(self) -> tuple[Invoke, ...]:
        return tuple(c for c in self.components if isinstance(c, Invoke))

    @property
    def name_follows(self) -> bool:
        """True if this IE announces that the calling name follows (NI-2)."""
        return any(inv.opcode == NI2_INFORMATION_FOLLOWING for inv in self.invokes())

    def names(self) -> list[tuple[NameOp, PartyName]]:
        """Every name operation invoked in this IE, decoded (malformed names skipped)."""
        out: list[tuple[NameOp, PartyName]] = []
        for inv in self.invokes():
            if isinstance(inv.opcode, int) and inv.opcode in NameOp.__members__.values() \
                    and inv.argument is not None:
                try:
                    out.append((NameOp(inv.opcode), decode_name(inv.argument)))
                except Q931Error:
                    continue
        return out


class NamePresentation(IntEnum):
    """ECMA-164 Name choice: allowed, restricted, not available."""

    ALLOWED = 0
    RESTRICTED = 1
    NOT_AVAILABLE = 2


@dataclass(frozen=True)
class PartyName:
    """ECMA-164 `Name`: presentation, name octets, character set (NameSet form only)."""

    name: bytes = b""
    presentation: NamePresentation = NamePresentation.ALLOWED
    character_set: int | None = None
    extended: bool = False

    @property
    def text(self) -> str:
        return self.name.decode("latin-1")


def decode_name(arg: bytes) -> PartyName:
    """Decode an ECMA-164 `Name` argument (one TLV); BerError if malformed."""
    t, end = ber.read_tlv(arg)
    if end != len(arg) or t.tag_class != ber.CONTEXT:
        raise BerError("Name: not one context-tagged element")
    if t.number in (0, 2) and not t.constructed:
        pres = NamePresentation.ALLOWED if t.number == 0 else NamePresentation.RESTRICTED
        return PartyName(t.value, pres)
    if t.number in (1, 3) and t.constructed:
        pres = NamePresentation.ALLOWED if t.number == 1 else NamePresentation.RESTRICTED
        el = t.children()
        if not el or not el[0].is_(ber.UNIVERSAL, ber.OCTET_STRING) or len(el) > 2:
            raise BerError("NameSet: bad elements")
        cs = ber.decode_int(el[1].value) if len(el) == 2 else None
        return PartyName(el[0].value, pres, cs, True)
    if t.number == 7 and not t.constructed and not t.value:
        return PartyName(b"", NamePresentation.RESTRICTED)
    if t.number == 4 and not t.constructed and not t.value:
        return PartyName(b"", NamePresentation.NOT_AVAILABLE)
    raise BerError(f"Name: unknown choice [{t.number}]")


def encode_name(n: PartyName) -> bytes:
    """Encode an ECMA-164 `Name` (simple form unless `extended`)."""
    if n.presentation == NamePresentation.NOT_AVAILABLE:
        return ber.encode_tlv(ber.CONTEXT, False, 4, b"")
    restricted = n.presentation == NamePresentation.RESTRICTED
    if restricted and not n.name:
        return ber.encode_tlv(ber.CONTEXT, False, 7, b"")
    if n.extended:
        v = ber.encode_tlv(ber.UNIVERSAL, False, ber.OCTET_STRING, n.name)
        if n.character_set is not None:
            v += ber.integer(n.character_set)
        return ber.encode_tlv(ber.CONTEXT, True, 3 if restricted else 1, v)
    return ber.encode_tlv(ber.CONTEXT, False, 2 if restricted else 0, n.name)


def name_invoke(invoke_id: int, name: PartyName, op: NameOp = NameOp.CALLING_NAME) -> Invoke:
    """A ROSE invoke carrying `name` (QSIG name presentation / NI-2 calling name)."""
    return Invoke(invoke_id, int(op), encode_name(name))
