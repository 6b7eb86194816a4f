"""Q.921 LAPD frame codec (modulo 128), ITU-T Q.921 (09/97) clause 3.

Address field (3.3): octet 1 SAPI (6 bits), C/R, EA=0; octet 2 TEI (7 bits),
EA=1.  Control field (3.4, Table 4): I (2 octets: N(S), N(R), P), S (2 octets:
RR 0x01, RNR 0x05, REJ 0x09, then N(R), P/F), U (1 octet: SABME 0x6F,
DM 0x0F, UI 0x03, DISC 0x43, UA 0x63, FRMR 0x87, XID 0xAF; P/F is bit 5).

C/R (3.3.2, Table 1): the user side sends commands with C/R=0 and responses
with C/R=1; the network side the opposite.  `Frame.command` is the frame's
role, `encode(side)` / `decode(data, side)` apply the table for the side that
sends or receives it.  FCS is not part of these octets (the HDLC driver adds
and checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from .errors import Q921Error

MODULO = 128


class Side(Enum):
    """Which side of the interface this data link entity is (Q.921 3.3.2)."""

    USER = "user"
    NETWORK = "network"


class FrameType(IntEnum):
    I = 0x00  # noqa: E741
    RR = 0x01
    RNR = 0x05
    REJ = 0x09
    SABME = 0x6F
    DM = 0x0F
    UI = 0x03
    DISC = 0x43
    UA = 0x63
    FRMR = 0x87
    XID = 0xAF


SUPERVISORY = frozenset({FrameType.RR, FrameType.RNR, FrameType.REJ})
UNNUMBERED = frozenset({FrameType.SABME, FrameType.DM, FrameType.UI, FrameType.DISC,
                        FrameType.UA, FrameType.FRMR, FrameType.XID})
# Unnumbered frames that may carry an information field (3.6.7, 3.6.11, 3.6.12).
_U_WITH_INFO = frozenset({FrameType.UI, FrameType.FRMR, FrameType.XID})
_U_COMMANDS = frozenset({FrameType.SABME, FrameType.DISC})
_U_RESPONSES = frozenset({FrameType.UA, FrameType.DM, FrameType.FRMR})


class FrameError(IntEnum):
    """Why a frame is not acceptable (Q.921 5.8.5; MDL-ERROR codes L, M, N, O)."""

    UNDEFINED_CONTROL = ord("L")
    INFO_NOT_PERMITTED = ord("M")
    INCORRECT_LENGTH = ord("N")
    TOO_LONG = ord("O")


class FrameRejected(Q921Error):
    """A frame with a valid address but an unacceptable control/information field."""

    def __init__(self, code: FrameError, detail: str, *, command: bool) -> None:
        super().__init__(f"frame error {chr(code)}: {detail}")
        self.code = code
        self.command = command


def cr_bit(side: Side, command: bool) -> int:
    """The C/R bit `side` sends for a command or response (Table 1)."""
    return int(command) if side is Side.NETWORK else int(not command)


@dataclass(frozen=True)
class Frame:
    """One LAPD frame: `command` is its role (not the raw C/R bit)."""

    type: FrameType
    command: bool
    pf: bool = False
    ns: int = 0
    nr: int = 0
    info: bytes = b""
    sapi: int = 0
    tei: int = 0

    def encode(self, side: Side) -> bytes:
        """The octets `side` transmits for this frame."""
        addr = bytes([(self.sapi << 2) | (cr_bit(side, self.command) << 1), (self.tei << 1) | 1])
        p = int(self.pf)
        if self.type is FrameType.I:
            ctl = bytes([(self.ns % MODULO) << 1, ((self.nr % MODULO) << 1) | p])
        elif self.type in SUPERVISORY:
            ctl = bytes([int(self.type), ((self.nr % MODULO) << 1) | p])
        else:
            ctl = bytes([int(self.type) | (p << 4)])
        return addr + ctl + self.info

    def describe(self) -> str:
        role = "cmd" if self.command else "rsp"
        flag = ("P" if self.command else "F") if self.pf else ""
        if self.type is FrameType.I:
            return f"I {role} N(S)={self.ns} N(R)={self.nr} {flag} len={len(self.info)}"
        if self.type in SUPERVISORY:
            return f"{self.type.name} {role} N(R)={self.nr} {flag}"
        return f"{self.type.name} {role} {flag}"


def peek_address(data: bytes) -> tuple[int, int, int]:
    """(SAPI, C/R bit, TEI) of a frame; Q921Error if the address field is invalid."""
    if len(data) < 3:
        raise Q921Error("frame shorter than address and control fields")
    if data[0] & 0x01 or not data[1] & 0x01:
        raise Q921Error("address field extension bits invalid")
    return data[0] >> 2, (data[0] >> 1) & 1, data[1] >> 1


def decode(data: bytes, side: Side, *, n201: int = 260) -> Frame:
    """Decode a frame received by `side`.

    Raises `Q921Error` for a frame to discard silently (too short, bad
    address: Q.921 2.9) and `FrameRejected` for a frame with a valid address
    but an unacceptable control or information field (5.8.5).
    """
    sapi, cr, tei = peek_address(data)
    # A command from the peer carries the C/R value the *other* side uses.
    command = cr == cr_bit(Side.USER if side is Side.NETWORK else Side.NETWORK, True)
    c0 = data[2]
    if not c0 & 0x01:
        if len(data) < 4:
            raise FrameRejected(FrameError.INCORRECT_LENGTH, "I frame without N(R)",
                                command=command)
        info = data[4:]
        if len(info) > n201:
            raise FrameRejected(FrameError.TOO_LONG, f"{len(info)} octets > N201",
                                command=command)
        if not command:
            raise FrameRejected(FrameError.UNDEFINED_CONTROL, "I frame sent as response",
                                command=command)
        return Frame(FrameType.I, True, bool(data[3] & 1), c0 >> 1, data[3] >> 1, info,
                     sapi, tei)
    if c0 & 0x03 == 0x01:
        if c0 not in (0x01, 0x05, 0x09):
            raise FrameRejected(FrameError.UNDEFINED_CONTROL, f"S control 0x{c0:02x}",
                                command=command)
        if len(data) != 4:
            raise FrameRejected(FrameError.INCORRECT_LENGTH, "S frame length",
                                command=command)
        return Frame(FrameType(c0), command, bool(data[3] & 1), 0, data[3] >> 1, b"", sapi, tei)
    base = c0 & ~0x10
    try:
        ft = FrameType(base)
    except ValueError:
        raise FrameRejected(FrameError.UNDEFINED_CONTROL, f"U control 0x{c0:02x}",
                            command=command) from None
    if ft not in UNNUMBERED:
        raise FrameRejected(FrameError.UNDEFINED_CONTROL, f"U control 0x{c0:02x}",
                            command=command)
    info = data[3:]
    if info and ft not in _U_WITH_INFO:
        raise FrameRejected(FrameError.INFO_NOT_PERMITTED, f"{ft.name} with information",
                            command=command)
    if (ft in _U_COMMANDS and not command) or (ft in _U_RESPONSES and command):
        raise FrameRejected(FrameError.UNDEFINED_CONTROL, f"{ft.name} with wrong C/R",
                            command=command)
    if len(info) > n201:
        raise FrameRejected(FrameError.TOO_LONG, f"{len(info)} octets > N201", command=command)
    return Frame(ft, command, bool(c0 & 0x10), 0, 0, info, sapi, tei)


def frmr_info(rejected: bytes, vs: int, vr: int, rejected_was_response: bool,
              w: bool, x: bool, y: bool, z: bool) -> bytes:
    """FRMR information field (3.6.11): rejected control field, V(S), V(R), C/R, WXYZ."""
    ctl = (rejected + b"\x00")[:2]
    return ctl + bytes([vs << 1, (vr << 1) | int(rejected_was_response),
                        int(w) | int(x) << 1 | int(y) << 2 | int(z) << 3])
