"""Q.921 data link states, inputs, parameters and the events it gives layer 3.

Part of `appliance.isdn.q921` (re-exported there); see that module's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class State(IntEnum):
    """Q.921 Annex B states used on a fixed-TEI point-to-point link."""

    TEI_ASSIGNED = 4
    AWAITING_ESTABLISHMENT = 5
    AWAITING_RELEASE = 6
    MULTIPLE_FRAME_ESTABLISHED = 7
    TIMER_RECOVERY = 8


class Input(IntEnum):
    """Inputs of the state table besides received frames (which use FrameType)."""

    ESTABLISH_REQ = 100
    RELEASE_REQ = 101
    DATA_REQ = 102
    UNIT_DATA_REQ = 103
    T200 = 104
    T203 = 105
    RETRY = 106
    FRAME_ERROR = 107
    SET_BUSY = 108
    CLEAR_BUSY = 109


@dataclass(frozen=True)
class LapdConfig:
    """System parameters (Q.921 5.9): defaults for SAPI 0 on a primary rate interface."""

    t200: float = 1.0
    t203: float = 10.0
    n200: int = 3
    k: int = 7
    n201: int = 260
    sapi: int = 0
    tei: int = 0
    keep_up: bool = True
    retry_interval: float | None = None


@dataclass(frozen=True)
class LinkUp:
    """DL-ESTABLISH-CONFIRM (initiator "local") or -INDICATION ("remote")."""

    initiator: str
    reestablished: bool = False
    discarded: int = 0


@dataclass(frozen=True)
class LinkDown:
    """DL-RELEASE-CONFIRM (`local` True) or -INDICATION, with why and I frames lost."""

    reason: str
    local: bool = False
    discarded: int = 0


@dataclass(frozen=True)
class DataIndication:
    """DL-DATA-INDICATION: one I-frame information field (a Q.931 message)."""

    payload: bytes


@dataclass(frozen=True)
class UnitDataIndication:
    """DL-UNIT-DATA-INDICATION: a UI frame's information field."""

    payload: bytes


@dataclass(frozen=True)
class MdlError:
    """MDL-ERROR-INDICATION (Q.921 Table II.1 code A..O, or "unexpected ...")."""

    code: str
    detail: str


Event = LinkUp | LinkDown | DataIndication | UnitDataIndication | MdlError
