"""The gateway core's handle on one SIP call (no sippy import: safe in any thread)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Literal

from appliance.interwork.facts import CauseFact
from appliance.sip import sdp as sdpmod

if TYPE_CHECKING:
    from appliance.sip.call import _Call

_ids = itertools.count(1)


class SipCallHandle:
    """The gateway core's grip on one SIP call.  Methods are safe from any thread."""

    def __init__(self, call: _Call) -> None:
        self._call = call
        self.id = f"sip-{next(_ids)}"

    @property
    def call_id(self) -> str:
        return self._call.call_id

    @property
    def direction(self) -> Literal["in", "out"]:
        return self._call.direction

    @property
    def trunk(self) -> str:
        return self._call.trunk.name

    def _post(self, fn: Any, *args: Any) -> None:
        self._call.endpoint.runtime.call(fn, *args)

    def provisional(self, status: int = 180, sdp: str | sdpmod.LocalMedia | None = None,
                    reliable: bool | None = None) -> None:
        """180/183 toward the caller; reliable defaults to "if the caller supports 100rel"."""
        self._post(self._call.send_provisional, status, sdp, reliable)

    def answer(self, sdp: str | sdpmod.LocalMedia) -> None:
        """200 OK with our SDP answer (give LocalMedia to have it built from the offer)."""
        self._post(self._call.send_answer, sdp)

    def reject(self, status: int | None = None, cause: CauseFact | None = None) -> None:
        """Refuse an incoming call: the status, or the one RFC 3398 gives for the cause."""
        self._post(self._call.send_reject, status, cause)

    def hangup(self, cause: CauseFact | None = None) -> None:
        """CANCEL (outgoing, before answer), a final failure (incoming) or BYE."""
        self._post(self._call.local_hangup, cause)

    def reinvite(self, local: sdpmod.LocalMedia, direction: sdpmod.Direction = "sendrecv") -> None:
        """Re-point our media (new RTP address/port) or change direction by re-INVITE."""
        self._post(self._call.send_reinvite, local, direction)

    def hold(self, on: bool = True) -> None:
        """RFC 3264 s8.4: re-INVITE with a=sendonly (on) or a=sendrecv (off)."""
        self._post(self._call.send_reinvite, None, "sendonly" if on else "sendrecv")

    def __repr__(self) -> str:
        return f"<SipCallHandle {self.id} {self.direction} {self.trunk} {self.call_id}>"
