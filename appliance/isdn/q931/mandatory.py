"""Mandatory IEs per message (Q.931 (05/98) clause 3 tables, Q.932 FACILITY,
T1.607 SERVICE) and the Q.931 5.8.6 check.

Only unconditionally mandatory IEs are listed; the conditional ones (channel
identification in the first answer to SETUP, cause in the first clearing
message, ...) depend on call state and are call control's to check.
"""

from __future__ import annotations

from ..errors import Q931Error
from .base import InformationElement, InvalidIE, VariableIE
from .codes import (
    MaintenanceMessageType,
    MessageType,
    NationalMaintenanceMessageType,
)
from .facility import Facility
from .ies import (
    BearerCapability,
    CallState,
    Cause,
    ChangeStatus,
    ChannelId,
    NotificationIndicator,
    ProgressIndicator,
    RestartIndicator,
)
from .messages import Message

IEClass = type[VariableIE]
M = MessageType

# (both directions, network-to-user only, user-to-network only)
MANDATORY: dict[int, tuple[tuple[IEClass, ...], tuple[IEClass, ...], tuple[IEClass, ...]]] = {
    M.DISCONNECT: ((Cause,), (), ()),                      # 3.1.5
    M.NOTIFY: ((NotificationIndicator,), (), ()),          # 3.1.7
    M.PROGRESS: ((ProgressIndicator,), (), ()),            # 3.1.8
    M.SETUP: ((BearerCapability,), (ChannelId,), ()),      # 3.1.14 (PRI)
    M.STATUS: ((Cause, CallState), (), ()),                # 3.1.16
    M.RESTART: ((RestartIndicator,), (), ()),              # 3.2.3
    M.RESTART_ACKNOWLEDGE: ((RestartIndicator,), (), ()),  # 3.2.4
    M.FACILITY: ((Facility,), (), ()),                     # Q.932 8.1.1
    M.HOLD_REJECT: ((Cause,), (), ()),                     # Q.932 8.1.2
    M.RETRIEVE_REJECT: ((Cause,), (), ()),
    M.SUSPEND_REJECT: ((Cause,), (), ()),                  # 3.1.20
    M.RESUME_REJECT: ((Cause,), (), ()),                   # 3.1.13
}
_SERVICE: tuple[tuple[IEClass, ...], tuple[IEClass, ...], tuple[IEClass, ...]] = (
    (ChangeStatus, ChannelId), (), ())


def mandatory_ies(m: Message, *, to_network: bool) -> tuple[IEClass, ...]:
    """The IE classes `m` must carry, sent toward the network (`to_network`) or the user."""
    if m.is_maintenance:
        known = isinstance(m.type, MaintenanceMessageType | NationalMaintenanceMessageType)
        row = _SERVICE if known else ((), (), ())
    else:
        row = MANDATORY.get(m.type, ((), (), ())) if isinstance(m.type, MessageType) \
            else ((), (), ())
    both, n2u, u2n = row
    return both + (u2n if to_network else n2u)


def check_mandatory(m: Message, *, to_network: bool) -> None:
    """Q.931 5.8.6: Q931Error(96) for a missing mandatory IE, Q931Error(100) for one
    whose contents are invalid; the diagnostic is the IE identifier."""
    invalid = {(ie.codeset, ie.ie_id) for ie in m.ies if isinstance(ie, InvalidIE)}
    for cls in mandatory_ies(m, to_network=to_network):
        ie: InformationElement | None = m.get(cls)
        if ie is not None and ie.codeset == 0:
            continue
        if (0, cls.ID) in invalid:
            raise Q931Error(100, f"mandatory IE 0x{cls.ID:02x} has invalid contents",
                            diagnostic=bytes([cls.ID]))
        raise Q931Error(96, f"mandatory IE 0x{cls.ID:02x} missing", diagnostic=bytes([cls.ID]))
