"""Q.931 messages: header (Q.931 4.1-4.4), IE sequence with codeset shifts (4.5.2-4.5.4).

`decode_message(data, variant=...)` returns a `Message` whose `ies` tuple holds
every IE in order, shift IEs included, so `Message.encode()` gives back the
same octets.  It raises only `Q931Error`, and only for the header (Q.931
5.8.1-5.8.3: protocol discriminator, message too short, call reference; all
`ignore=True`).  IE problems never raise: an IE whose contents are wrong is
kept as `InvalidIE` (cause 100), an unknown one as `UnknownIE`; call control
decides what to answer (`Message.problems()`).

Codesets: codeset 0 IEs as Q.931; codeset 6 facility, display, originating
line information and generic digits typed for the North American variants
(NI-2, 4ESS, 5ESS, DMS-100) as libpri sends them; codeset 5 calling party
category (not on the North American variants); codeset 4 transit counter on
QSIG; anything else in codesets 4-7 kept as `UnknownIE` with its codeset.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import Q931Error
from .base import (
    InformationElement,
    InvalidIE,
    Shift,
    UnknownIE,
    UnknownSingleOctet,
    VariableIE,
    decode_single_octet,
)
from .codes import (
    MAINTENANCE_PDS,
    NORTH_AMERICAN,
    Codeset6Id,
    MaintenanceMessageType,
    MessageType,
    NationalMaintenanceMessageType,
    ProtocolDiscriminator,
    Variant,
)
from .facility import Facility
from .ies import (
    BearerCapability,
    CallState,
    Cause,
    ChangeStatus,
    ChannelId,
    DateTime,
    Display,
    KeypadFacility,
    NotificationIndicator,
    ProgressIndicator,
    RestartIndicator,
    Signal,
    UserUser,
)
from .national import (
    CallingPartyCategory,
    GenericDigits,
    OriginatingLineInfo,
    TransitCounter,
)
from .numbers import (
    CalledPartyNumber,
    CallingPartyNumber,
    ConnectedNumber,
    OriginalCalledNumber,
    RedirectingNumber,
    RedirectionNumber,
)

CODESET0: dict[int, type[VariableIE]] = {c.ID: c for c in (
    BearerCapability, CallState, Cause, ChangeStatus, ChannelId, DateTime, Display,
    KeypadFacility, NotificationIndicator, ProgressIndicator, RestartIndicator, Signal,
    UserUser, Facility, CalledPartyNumber, CallingPartyNumber, ConnectedNumber,
    OriginalCalledNumber, RedirectingNumber, RedirectionNumber)}

CODESET6_NA: dict[int, type[VariableIE]] = {
    Codeset6Id.FACILITY: Facility,
    Codeset6Id.DISPLAY: Display,
    Codeset6Id.ORIGINATING_LINE_INFORMATION: OriginatingLineInfo,
    Codeset6Id.GENERIC_DIGITS: GenericDigits,
}
CODESET5: dict[int, type[VariableIE]] = {CallingPartyCategory.ID: CallingPartyCategory}
CODESET4_QSIG: dict[int, type[VariableIE]] = {TransitCounter.ID: TransitCounter}

IE_T = TypeVar("IE_T", bound=InformationElement)


def ie_class(codeset: int, ie_id: int, variant: Variant | None) -> type[VariableIE] | None:
    """The typed class for (codeset, id) on `variant` (None = any variant)."""
    if codeset == 0:
        return CODESET0.get(ie_id)
    if codeset == 6 and (variant is None or variant in NORTH_AMERICAN):
        return CODESET6_NA.get(ie_id)
    if codeset == 5 and variant not in NORTH_AMERICAN:
        return CODESET5.get(ie_id)
    if codeset == 4 and variant in (None, Variant.QSIG):
        return CODESET4_QSIG.get(ie_id)
    return None


def decode_ie(codeset: int, ie_id: int, body: bytes, variant: Variant | None
              ) -> InformationElement:
    """One variable-length IE; never raises (InvalidIE/UnknownIE instead)."""
    cls = ie_class(codeset, ie_id, variant)
    raw = bytes([ie_id, len(body)]) + body
    if cls is None:
        return UnknownIE(ie_id, body, codeset=codeset)
    try:
        ie = cls.from_body(body, codeset)
    except Q931Error as e:
        return InvalidIE(ie_id, raw, e.cause, e.detail, codeset=codeset)
    try:
        ok = ie.encode() == raw
    except ValueError:
        ok = False
    if not ok:
        return InvalidIE(ie_id, raw, 100, "non-canonical encoding", codeset=codeset)
    return ie


def decode_ies(data: bytes, variant: Variant | None = None) -> tuple[InformationElement, ...]:
    """The IE part of a message, with locking/non-locking shifts applied (Q.931 4.5.2)."""
    out: list[InformationElement] = []
    locked = 0
    pending: int | None = None
    pos = 0
    while pos < len(data):
        cs = locked if pending is None else pending
        pending = None
        o = data[pos]
        if o & 0x80:
            pos += 1
            if o & 0xF0 == 0x90:
                target, locking = o & 0x07, not o & 0x08
                out.append(Shift(target, locking, codeset=cs))
                if locking:
                    locked = target
                else:
                    pending = target
            else:
                out.append(decode_single_octet(o, cs))
            continue
        if pos + 2 > len(data) or pos + 2 + data[pos + 1] > len(data):
            out.append(InvalidIE(o, data[pos:], 100, "IE runs past the end of the message",
                                 codeset=cs))
            break
        n = data[pos + 1]
        out.append(decode_ie(cs, o, data[pos + 2:pos + 2 + n], variant))
        pos += 2 + n
    return tuple(out)


@dataclass(frozen=True)
class Message:
    """A Q.931 message.

    `call_ref` is the call reference value (0 = global), `call_ref_flag` the
    flag bit (False: sent by the side that allocated the reference, Q.931
    4.3), `call_ref_len` its length in octets (2 on a PRI, 0 = dummy).
    `type` is a `MessageType` (protocol 0x08), a `MaintenanceMessageType`
    (0x03), a `NationalMaintenanceMessageType` (0x43) or the raw int for a type unknown here (Q.931 5.8.4: answer
    with STATUS cause 97).
    """

    type: int
    call_ref: int = 0
    call_ref_flag: bool = False
    ies: tuple[InformationElement, ...] = ()
    protocol: int = ProtocolDiscriminator.Q931
    call_ref_len: int = 2

    def encode(self) -> bytes:
        n = self.call_ref_len
        if not 0 <= self.type <= 0xFF or not 0 <= self.protocol <= 0xFF:
            raise ValueError("message type and protocol discriminator are one octet each")
        if not 0 <= n <= 15:
            raise ValueError("call reference length must be 0..15")
        if n == 0:
            cr = bytearray()
        else:
            if not 0 <= self.call_ref < 1 << (8 * n - 1):
                raise ValueError(f"call reference {self.call_ref} does not fit {n} octets")
            cr = bytearray(self.call_ref.to_bytes(n, "big"))
            if self.call_ref_flag:
                cr[0] |= 0x80
        return (bytes([self.protocol, n]) + bytes(cr) + bytes([self.type])
                + b"".join(ie.encode() for ie in self.ies))

    @property
    def is_global(self) -> bool:
        return self.call_ref == 0 and self.call_ref_len > 0

    @property
    def is_maintenance(self) -> bool:
        return self.protocol in MAINTENANCE_PDS

    def get(self, cls: builtins.type[IE_T]) -> IE_T | None:
        """The first IE of class `cls`, or None."""
        for ie in self.ies:
            if isinstance(ie, cls):
                return ie
        return None

    def all(self, cls: builtins.type[IE_T]) -> tuple[IE_T, ...]:
        return tuple(ie for ie in self.ies if isinstance(ie, cls))

    def unknown(self) -> tuple[UnknownIE | UnknownSingleOctet, ...]:
        """IEs this codec has no type for (Q.931 5.8.7.1), in order."""
        return tuple(ie for ie in self.ies if isinstance(ie, UnknownIE | UnknownSingleOctet))

    def invalid(self) -> tuple[InvalidIE, ...]:
        """IEs with content errors (Q.931 5.8.7.2), in order."""
        return tuple(ie for ie in self.ies if isinstance(ie, InvalidIE))

    def problems(self) -> list[tuple[int, InformationElement]]:
        """(Q.850 cause, IE) for every IE call control has to report: 100 for
        invalid contents, 99 for unknown codeset-0 IEs (Q.931 5.8.7)."""
        out: list[tuple[int, InformationElement]] = []
        for ie in self.ies:
            if isinstance(ie, InvalidIE):
                out.append((ie.cause, ie))
            elif isinstance(ie, UnknownIE) and ie.codeset == 0:
                out.append((99, ie))
        return out


def decode_message(data: bytes, *, variant: Variant | None = None) -> Message:
    """Decode one Q.931 message (the whole I-frame information field)."""
    if len(data) < 3:
        raise Q931Error(95, "message too short", ignore=True)
    pd = data[0]
    if pd != ProtocolDiscriminator.Q931 and pd not in MAINTENANCE_PDS:
        raise Q931Error(95, f"protocol discriminator 0x{pd:02x}", ignore=True)
    if data[1] & 0xF0:
        raise Q931Error(81, "call reference length octet bits 5-8 not zero", ignore=True)
    n = data[1] & 0x0F
    if n > 2:
        raise Q931Error(81, f"call reference length {n} not supported", ignore=True)
    if len(data) < 3 + n:
        raise Q931Error(95, "message too short", ignore=True)
    cr_octets = data[2:2 + n]
    flag = bool(n and cr_octets[0] & 0x80)
    cr = int.from_bytes(cr_octets, "big") & ~(0x80 << (8 * (n - 1))) if n else 0
    raw_type = data[2 + n]
    mtype: int = raw_type
    with contextlib.suppress(ValueError):
        if pd == ProtocolDiscriminator.Q931:
            mtype = MessageType(raw_type)
        elif pd == ProtocolDiscriminator.MAINTENANCE_DMS:
            mtype = NationalMaintenanceMessageType(raw_type)
        else:
            mtype = MaintenanceMessageType(raw_type)
    return Message(mtype, cr, flag, decode_ies(data[3 + n:], variant), pd, n)


def with_shifts(ies: Iterable[InformationElement], *, locking: bool = False
                ) -> tuple[InformationElement, ...]:
    """Insert the shift IEs needed to send each IE in its own `codeset`.

    Non-locking shifts by default (one per IE outside codeset 0); with
    `locking`, a locking shift when the codeset rises (Q.931 4.5.3 forbids
    locking back down), as libpri does for codeset 6.
    """
    out: list[InformationElement] = []
    locked = 0
    for ie in ies:
        if isinstance(ie, Shift):
            raise ValueError("with_shifts inserts the shifts itself")
        if ie.codeset != locked:
            if locking and ie.codeset > locked:
                out.append(Shift(ie.codeset, True, codeset=locked))
                locked = ie.codeset
            else:
                out.append(Shift(ie.codeset, False, codeset=locked))
        out.append(ie)
    return tuple(out)


def message(mtype: int, call_ref: int, call_ref_flag: bool, *ies: InformationElement,
            protocol: int = ProtocolDiscriminator.Q931, locking_shifts: bool = False,
            call_ref_len: int = 2) -> Message:
    """Build a message, inserting codeset shifts for IEs outside codeset 0."""
    return Message(mtype, call_ref, call_ref_flag, with_shifts(ies, locking=locking_shifts),
                   protocol, call_ref_len)


