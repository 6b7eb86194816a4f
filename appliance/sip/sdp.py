"""SDP offers and answers for the gateway's one audio stream (RFC 3264, RFC 4566).

What: an offer with PCMU and PCMA (the span's law first), telephone-event/8000
0-15 (RFC 4733 s7.1.1), a=ptime and a direction attribute (a=sendrecv, or
a=sendonly / a=inactive for hold, RFC 3264 s8.4), with c= and m= pointing at the
RTP address and port the media plane gives; the answer to a peer's offer
(RFC 3264 s6.1: the first offered codec we support, in the offerer's order,
telephone-event with the offerer's payload type, the mirrored direction, every
other stream refused with port 0); and the remote media an offer or answer
describes.

How: parsing is sippy's `SdpBody` (RFC 4566 mandatory-line checks included);
building is plain text checked by `SdpBody` again.  Pure functions, no I/O.

Limits: one audio stream; G.711 only (the span is G.711, so no transcoding);
IPv4 and IPv6 c= lines; a=rtcp-mux and SRTP (a=crypto) are not offered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sippy.SdpBody import SdpBody

Law = Literal["ulaw", "alaw"]
Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
_DIRECTIONS: tuple[Direction, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")
_STATIC = {0: "PCMU", 8: "PCMA"}
_PT_BY_LAW = {"ulaw": 0, "alaw": 8}
_MIRROR: dict[Direction, Direction] = {
    "sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive",
}
TELEPHONE_EVENT_PT = 101


class SdpError(ValueError):
    """An SDP body the gateway cannot use; `status` is the SIP answer (RFC 3261 s21.4.26)."""

    def __init__(self, message: str, status: int = 488) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LocalMedia:
    """Where the media plane receives RTP for a call, and how."""

    address: str
    port: int
    law: Law = "ulaw"
    ptime: int = 20
    session_id: int = 1
    version: int = 1
    user: str = "tdmgw"


@dataclass(frozen=True)
class RemoteMedia:
    """What the peer's SDP says: where to send RTP, with which payload types."""

    address: str
    port: int
    payload_type: int
    codec: str
    dtmf_payload_type: int | None
    ptime: int | None
    direction: Direction

    @property
    def on_hold(self) -> bool:
        return self.direction in ("sendonly", "inactive") or self.address in ("0.0.0.0", "::")


def _addr_type(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def build(local: LocalMedia, direction: Direction = "sendrecv", *,
          payload_types: tuple[int, ...] | None = None, dtmf_pt: int | None = TELEPHONE_EVENT_PT,
          port: int | None = None) -> str:
    """An SDP body (offer, or answer when `payload_types` is given) for `local`."""
    if payload_types is None:
        first = _PT_BY_LAW[local.law]
        payload_types = (first, 8 if first == 0 else 0)
    fmts = list(payload_types) + ([dtmf_pt] if dtmf_pt is not None else [])
    at = _addr_type(local.address)
    lines = [
        "v=0",
        f"o={local.user} {local.session_id} {local.version} IN {at} {local.address}",
        "s=tdmgw",
        f"c=IN {at} {local.address}",
        "t=0 0",
        f"m=audio {local.port if port is None else port} RTP/AVP {' '.join(map(str, fmts))}",
    ]
    lines += [f"a=rtpmap:{pt} {_STATIC[pt]}/8000" for pt in payload_types if pt in _STATIC]
    if dtmf_pt is not None:
        lines += [f"a=rtpmap:{dtmf_pt} telephone-event/8000", f"a=fmtp:{dtmf_pt} 0-15"]
    lines += [f"a=ptime:{local.ptime}", f"a={direction}"]
    text = "\r\n".join(lines) + "\r\n"
    SdpBody(text)  # the same checks a peer's body gets
    return text


def offer(local: LocalMedia, direction: Direction = "sendrecv") -> str:
    """RFC 3264 s5: PCMU and PCMA, the span's law first, plus telephone-event."""
    return build(local, direction)


def parse(text: str) -> SdpBody:
    """Parse a body with sippy's SdpBody; any failure is an SdpError (400 class: 488)."""
    try:
        return SdpBody(text)
    except Exception as exc:  # sippy raises SdpParseError, or ValueError/IndexError on junk
        raise SdpError(f"unparsable SDP: {exc}") from exc


def _section_info(body: SdpBody, index: int) -> tuple[str, int, list[int], dict[int, str],
                                                        int | None, Direction]:
    sect = body.sections[index]
    m = sect.m_header
    conn = sect.c_header
    if conn is None:
        raise SdpError("audio stream without a connection address")
    rtpmap: dict[int, str] = {}
    ptime: int | None = None
    direction: Direction = "sendrecv"
    for attrs in (body.a_headers, sect.a_headers):
        for a in attrs:
            if a.name == "rtpmap" and a.value:
                pt, _, enc = a.value.partition(" ")
                if pt.isdigit():
                    rtpmap[int(pt)] = enc.strip()
            elif a.name == "ptime" and a.value and a.value.strip().isdigit():
                ptime = int(a.value.strip())
            elif a.name in _DIRECTIONS:
                direction = a.name
    return str(conn.addr), int(m.port), [int(f) for f in m.formats], rtpmap, ptime, direction


def _audio_index(body: SdpBody) -> int:
    for i, sect in enumerate(body.sections):
        m = sect.m_header
        if m is not None and str(m.stype).lower() == "audio" and int(m.port) != 0 \
                and str(m.transport).upper() == "RTP/AVP":
            return i
    raise SdpError("no RTP/AVP audio stream")


def _codec(pt: int, rtpmap: dict[int, str]) -> str | None:
    enc = rtpmap.get(pt)
    if enc is None:
        return _STATIC.get(pt)
    name = enc.split("/")[0].upper()
    rate = enc.split("/")[1] if "/" in enc else "8000"
    if name in ("PCMU", "PCMA") and rate == "8000":
        return name
    return None


def _dtmf(formats: list[int], rtpmap: dict[int, str]) -> int | None:
    for pt in formats:
        if re.fullmatch(r"telephone-event/8000(/1)?", rtpmap.get(pt, ""), re.IGNORECASE):
            return pt
    return None


def remote_media(text: str, offered: tuple[int, ...] | None = None) -> RemoteMedia:
    """The peer's audio stream.  For an answer, `offered` lists the payload types we
    offered, and the first answered one among them is the codec (RFC 3264 s7)."""
    body = parse(text)
    addr, port, formats, rtpmap, ptime, direction = _section_info(body, _audio_index(body))
    for pt in formats:
        codec = _codec(pt, rtpmap)
        if codec is not None and (offered is None or pt in offered):
            return RemoteMedia(addr, port, pt, codec, _dtmf(formats, rtpmap), ptime, direction)
    raise SdpError("no PCMU or PCMA in the audio stream")


def answer(offer_text: str, local: LocalMedia,
           hold: Direction | None = None) -> tuple[str, RemoteMedia]:
    """RFC 3264 s6.1: our answer to `offer_text` and the remote media it sets up.

    The codec is the first one the offerer lists that we support (its
    preference wins; PCMU and PCMA both reach the span unconverted).  `hold`
    forces our direction (sendonly or inactive) for a call we hold.
    """
    body = parse(offer_text)
    index = _audio_index(body)
    remote = remote_media(offer_text)
    mirror = _MIRROR[remote.direction]
    if hold is not None:
        mirror = "inactive" if mirror in ("recvonly", "inactive") or hold == "inactive" else hold
    text = build(local, mirror, payload_types=(remote.payload_type,),
                 dtmf_pt=remote.dtmf_payload_type)
    # RFC 3264 s6: as many m= lines as the offer, in order; ours refused with port 0.
    extra_before = [_refused(body, i) for i in range(index)]
    extra_after = [_refused(body, i) for i in range(index + 1, len(body.sections))]
    if extra_before or extra_after:
        head, _, media = text.partition("m=audio")
        text = head + "".join(extra_before) + "m=audio" + media + "".join(extra_after)
    return text, remote


def _refused(body: SdpBody, index: int) -> str:
    m = body.sections[index].m_header
    fmts = " ".join(str(f) for f in m.formats) or "0"
    return f"m={m.stype} 0 {m.transport} {fmts}\r\n"
