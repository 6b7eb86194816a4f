"""Codeset 0 information elements other than party numbers (Q.931 4.5).

Each class decodes exactly the octet groups its clause defines and encodes
them back; field names follow the clause.  Spare bits must be zero and
extension bits must be as the clause says, otherwise the decoder keeps the IE
as `InvalidIE` (cause 100) with its raw octets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from .base import OctetReader, VariableIE, ia5, invalid, to_ia5
from .codes import IEId


@dataclass(frozen=True)
class BearerCapability(VariableIE):
    """Q.931 4.5.5 bearer capability.

    Octets 5, 6, 7 (layer 1/2/3 protocol) are each a group: the first octet's
    protocol in `layerN`, any further octets of the group (5a-5d, 6a, 7a/7b)
    kept verbatim in `layerN_ext`.
    """

    transfer_capability: int = 0
    transfer_mode: int = 0
    transfer_rate: int = 0x10
    coding_standard: int = 0
    rate_multiplier: int | None = None
    layer1: int | None = None
    layer1_ext: bytes = b""
    layer2: int | None = None
    layer2_ext: bytes = b""
    layer3: int | None = None
    layer3_ext: bytes = b""

    ID: ClassVar[int] = IEId.BEARER_CAPABILITY

    def body(self) -> bytes:
        out = bytearray([0x80 | (self.coding_standard << 5) | self.transfer_capability,
                         0x80 | (self.transfer_mode << 5) | self.transfer_rate])
        if self.rate_multiplier is not None:
            out.append(0x80 | self.rate_multiplier)
        for tag, proto, ext in ((0x20, self.layer1, self.layer1_ext),
                                (0x40, self.layer2, self.layer2_ext),
                                (0x60, self.layer3, self.layer3_ext)):
            if proto is None:
                continue
            out.append((0x00 if ext else 0x80) | tag | proto)
            out += ext
        return bytes(out)

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        r = OctetReader(cls.ID, body)
        o3 = r.octet("octet 3")
        o4 = r.octet("octet 4")
        if not o3 & 0x80 or not o4 & 0x80:
            raise invalid(cls.ID, "octet 3/4 extension bit")
        mult = None
        if o4 & 0x1F == 0x18:
            mult = r.octet("rate multiplier") & 0x7F
        layers: dict[int, tuple[int, bytes]] = {}
        while r.more():
            first = r.octet("layer octet")
            layer = (first >> 5) & 0x03
            if layer == 0 or layer in layers or any(k > layer for k in layers):
                raise invalid(cls.ID, f"layer identification {layer} out of order")
            start = r.pos
            cont = first
            while not cont & 0x80:
                cont = r.octet("layer extension octet")
            layers[layer] = (first & 0x1F, body[start:r.pos])
        l1, l2, l3 = (layers.get(i, (None, b"")) for i in (1, 2, 3))
        return cls(o3 & 0x1F, (o4 >> 5) & 0x03, o4 & 0x1F, (o3 >> 5) & 0x03, mult,
                   l1[0], l1[1], l2[0], l2[1], l3[0], l3[1], codeset=codeset)


@dataclass(frozen=True)
class ChannelId(VariableIE):
    """Q.931 4.5.13 channel identification.

    `exclusive` is the preferred/exclusive bit; `selection` the information
    channel selection (1 = as indicated in `channels` or `slot_map`).  For a
    PRI (`pri`) octets 3.2/3.3 are sent when `channels` or `slot_map` is set.
    `interface_id` (octet 3.1) is for NFAS.
    """

    channels: tuple[int, ...] = ()
    exclusive: bool = True
    selection: int = 1
    pri: bool = True
    d_channel: bool = False
    interface_id: int | None = None
    slot_map: bytes | None = None
    coding_standard: int = 0
    channel_type: int = 3

    ID: ClassVar[int] = IEId.CHANNEL_IDENTIFICATION

    def body(self) -> bytes:
        out = bytearray([0x80 | (0x40 if self.interface_id is not None else 0)
                         | (0x20 if self.pri else 0) | (0x08 if self.exclusive else 0)
                         | (0x04 if self.d_channel else 0) | self.selection])
        if self.interface_id is not None:
            out.append(0x80 | self.interface_id)
        if self.slot_map is not None:
            out.append(0x80 | (self.coding_standard << 5) | 0x10 | self.channel_type)
            out += self.slot_map
        elif self.channels:
            out.append(0x80 | (self.coding_standard << 5) | self.channel_type)
            for i, ch in enumerate(self.channels):
                out.append(ch | (0x80 if i == len(self.channels) - 1 else 0))
        return bytes(out)

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        r = OctetReader(cls.ID, body)
        o3 = r.octet("octet 3")
        if not o3 & 0x80 or o3 & 0x10:
            raise invalid(cls.ID, "octet 3 extension/spare bit")
        iid = None
        if o3 & 0x40:
            o31 = r.octet("interface identifier")
            if not o31 & 0x80:
                raise invalid(cls.ID, "multi-octet interface identifier")
            iid = o31 & 0x7F
        pri = bool(o3 & 0x20)
        channels: tuple[int, ...] = ()
        slot_map = None
        coding, ctype = 0, 3
        if r.more():
            if not pri:
                raise invalid(cls.ID, "octet 3.2 on a basic interface")
            o32 = r.octet("octet 3.2")
            if not o32 & 0x80:
                raise invalid(cls.ID, "octet 3.2 extension bit")
            coding, ctype = (o32 >> 5) & 0x03, o32 & 0x0F
            rest = r.rest()
            if not rest:
                raise invalid(cls.ID, "octet 3.2 without 3.3")
            if o32 & 0x10:
                slot_map = rest
            else:
                if not rest[-1] & 0x80 or any(b & 0x80 for b in rest[:-1]):
                    raise invalid(cls.ID, "channel number extension bits")
                channels = tuple(b & 0x7F for b in rest)
        return cls(channels, bool(o3 & 0x08), o3 & 0x03, pri, bool(o3 & 0x04), iid,
                   slot_map, coding, ctype, codeset=codeset)

    def slot_map_channels(self) -> tuple[int, ...]:
        """Channels set in `slot_map` (last octet bit 1 = timeslot 1, Q.931 4.5.13 note)."""
        if self.slot_map is None:
            return ()
        bits = int.from_bytes(self.slot_map, "big")
        return tuple(i + 1 for i in range(len(self.slot_map) * 8) if bits >> i & 1)


@dataclass(frozen=True)
class CallState(VariableIE):
    """Q.931 4.5.7 call state."""

    value: int = 0
    coding_standard: int = 0

    ID: ClassVar[int] = IEId.CALL_STATE

    def body(self) -> bytes:
        return bytes([(self.coding_standard << 6) | self.value])

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if len(body) != 1:
            raise invalid(cls.ID, "length must be 1")
        return cls(body[0] & 0x3F, body[0] >> 6, codeset=codeset)


@dataclass(frozen=True)
class Cause(VariableIE):
    """Q.931 4.5.12 / Q.850 2 cause: location, optional recommendation, value, diagnostics."""

    value: int = 16
    location: int = 0
    coding_standard: int = 0
    recommendation: int | None = None
    diagnostics: bytes = b""

    ID: ClassVar[int] = IEId.CAUSE

    def body(self) -> bytes:
        out = bytearray([(0x80 if self.recommendation is None else 0)
                         | (self.coding_standard << 5) | self.location])
        if self.recommendation is not None:
            out.append(0x80 | self.recommendation)
        out.append(0x80 | self.value)
        return bytes(out) + self.diagnostics

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        r = OctetReader(cls.ID, body)
        o3 = r.octet("octet 3")
        if o3 & 0x10:
            raise invalid(cls.ID, "octet 3 spare bit")
        rec = None
        if not o3 & 0x80:
            o3a = r.octet("octet 3a")
            if not o3a & 0x80:
                raise invalid(cls.ID, "octet 3a extension bit")
            rec = o3a & 0x7F
        o4 = r.octet("cause value")
        if not o4 & 0x80:
            raise invalid(cls.ID, "octet 4 extension bit")
        return cls(o4 & 0x7F, o3 & 0x0F, (o3 >> 5) & 0x03, rec, r.rest(), codeset=codeset)


@dataclass(frozen=True)
class ProgressIndicator(VariableIE):
    """Q.931 4.5.23 progress indicator."""

    description: int = 8
    location: int = 0
    coding_standard: int = 0

    ID: ClassVar[int] = IEId.PROGRESS_INDICATOR

    def body(self) -> bytes:
        return bytes([0x80 | (self.coding_standard << 5) | self.location,
                      0x80 | self.description])

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if len(body) != 2 or body[0] & 0x90 != 0x80 or not body[1] & 0x80:
            raise invalid(cls.ID, "expected two octets with extension bits set")
        return cls(body[1] & 0x7F, body[0] & 0x0F, (body[0] >> 5) & 0x03, codeset=codeset)


@dataclass(frozen=True)
class NotificationIndicator(VariableIE):
    """Q.931 4.5.22 notification indicator; `extension` holds Q.932/ETS extended octets."""

    description: int = 0
    extension: bytes = b""

    ID: ClassVar[int] = IEId.NOTIFICATION_INDICATOR

    def body(self) -> bytes:
        return bytes([0x80 | self.description]) + self.extension

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if not body or not body[0] & 0x80:
            raise invalid(cls.ID, "octet 3")
        return cls(body[0] & 0x7F, body[1:], codeset=codeset)


@dataclass(frozen=True)
class Display(VariableIE):
    """Q.931 4.5.16 display; `info_type` is the leading octet (bit 8 set) that
    NI-2/5ESS/EuroISDN variants put before the characters (e.g. 0xB1 calling name)."""

    text: str = ""
    info_type: int | None = None

    ID: ClassVar[int] = IEId.DISPLAY

    def body(self) -> bytes:
        head = b"" if self.info_type is None else bytes([self.info_type])
        return head + to_ia5(self.text)

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if body and body[0] & 0x80:
            return cls(ia5(body[1:]), body[0], codeset=codeset)
        return cls(ia5(body), None, codeset=codeset)


@dataclass(frozen=True)
class KeypadFacility(VariableIE):
    """Q.931 4.5.18 keypad facility (IA5 characters)."""

    digits: str = ""

    ID: ClassVar[int] = IEId.KEYPAD_FACILITY

    def body(self) -> bytes:
        return to_ia5(self.digits)

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        return cls(ia5(body), codeset=codeset)


@dataclass(frozen=True)
class Signal(VariableIE):
    """Q.931 4.5.28 signal."""

    value: int = 0

    ID: ClassVar[int] = IEId.SIGNAL

    def body(self) -> bytes:
        return bytes([self.value])

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if len(body) != 1:
            raise invalid(cls.ID, "length must be 1")
        return cls(body[0], codeset=codeset)


@dataclass(frozen=True)
class UserUser(VariableIE):
    """Q.931 4.5.30 user-user: protocol discriminator then information."""

    protocol: int = 0x04
    data: bytes = b""

    ID: ClassVar[int] = IEId.USER_USER

    def body(self) -> bytes:
        return bytes([self.protocol]) + self.data

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if not body:
            raise invalid(cls.ID, "no protocol discriminator")
        return cls(body[0], body[1:], codeset=codeset)


@dataclass(frozen=True)
class RestartIndicator(VariableIE):
    """Q.931 4.5.25 restart indicator (class 0 indicated channels, 6 interface, 7 all)."""

    restart_class: int = 0

    ID: ClassVar[int] = IEId.RESTART_INDICATOR

    def body(self) -> bytes:
        return bytes([0x80 | self.restart_class])

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if len(body) != 1 or body[0] & 0xF8 != 0x80:
            raise invalid(cls.ID, "expected 1 octet 1000 0ccc")
        return cls(body[0] & 0x07, codeset=codeset)


@dataclass(frozen=True)
class ChangeStatus(VariableIE):
    """Change status (T1.607 / GR-4434 SERVICE): preference (1 = channel), new status."""

    status: int = 0
    preference: int = 1

    ID: ClassVar[int] = IEId.CHANGE_STATUS

    def body(self) -> bytes:
        return bytes([0x80 | (self.preference << 6) | self.status])

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if len(body) != 1 or body[0] & 0xB8 != 0x80:
            raise invalid(cls.ID, "expected 1 octet 1p00 0sss")
        return cls(body[0] & 0x07, (body[0] >> 6) & 1, codeset=codeset)


@dataclass(frozen=True)
class DateTime(VariableIE):
    """Q.931 4.5.15 date/time: year (two digits), month, day, then optional h, m, s."""

    year: int = 0
    month: int = 1
    day: int = 1
    hour: int | None = None
    minute: int | None = None
    second: int | None = None

    ID: ClassVar[int] = IEId.DATE_TIME

    def body(self) -> bytes:
        out = [self.year, self.month, self.day]
        for v in (self.hour, self.minute, self.second):
            if v is None:
                break
            out.append(v)
        return bytes(out)

    @classmethod
    def from_body(cls, body: bytes, codeset: int) -> Self:
        if not 3 <= len(body) <= 6:
            raise invalid(cls.ID, "length must be 3..6")
        opt = [*body[3:], None, None, None]
        return cls(body[0], body[1], body[2], opt[0], opt[1], opt[2], codeset=codeset)
