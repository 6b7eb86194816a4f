"""One call's RTP stream: what was negotiated, and the per-call state around it.

`StreamSpec` is what the SIP/call layer negotiates and hands over
(`open_stream`): the span and channel, the local port, the far end's
address, payload types, ptime, SRTP keys, and per-call options.  `Stream`
holds the per-call protocol state: the RTP sender (RFC 3550 s5.1), the
far end's source statistics and RTCP session (s6), RFC 4733 sender and
receiver, comfort noise (RFC 3389), SRTP (RFC 3711), symmetric-RTP latching
and the safety counters, and the latency samples of each hop.

Latching (symmetric RTP, RFC 4961 and the NAT practice of RFC 7362 s4):
until the first valid packet arrives, only the negotiated address is
trusted; with `latch` on (the default) the first packet that is valid RTP
of a negotiated payload type (and, with SRTP, authenticates) fixes the far
end's address, from then on RTP and RTCP are taken only from there and sent
there; everything else is dropped and counted.  A re-INVITE that changes
the remote address (`modify`) unlatches.

rtcp-mux (RFC 5761): with `rtcp_mux` RTCP is sent from and to the RTP
ports, and what arrives on the RTP port is told apart by its second octet
(s4: RTCP packet types 192-223 are payload types 64-95 with the marker set,
which RTP must not use); the RTCP port stays bound and read as well.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.media import cn as cnmod
from appliance.media.dtmf_events import EventReceiver, EventSender
from appliance.media.rtcp import ReceptionStats, RtcpSession
from appliance.media.rtp import RtpSender
from appliance.media.srtp import CryptoAttribute, SrtpContext

Addr = tuple[str, int]
_HDR = struct.Struct("!BBHII")


class Codec(StrEnum):
    PCMU = "PCMU"
    PCMA = "PCMA"

    @property
    def law(self) -> str:
        """The span Law value (drivers.span.Law) of this codec."""
        return "mulaw" if self is Codec.PCMU else "alaw"

    @property
    def static_pt(self) -> int:
        return 0 if self is Codec.PCMU else 8


class Direction(StrEnum):
    """SDP direction (RFC 4566 s6, RFC 3264 s5.1): hold is sendonly/inactive."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"


class SpecError(ValueError):
    """An open_stream/modify request that cannot be honoured (the SIP layer answers 488/500)."""


@dataclass(frozen=True)
class StreamSpec:
    """What the SIP/call layer negotiated for one call's audio."""

    call_id: str
    span: str
    channel: int  # row of the span block (index into SpanParams.bchannels)
    local_port: int = 0  # 0: the media process picks an even port from its range
    remote: Addr | None = None  # from the SDP c=/m= lines; None until the answer
    codec: Codec = Codec.PCMU
    payload_type: int = 0
    event_pt: int | None = 101  # telephone-event, None if not negotiated
    cn_pt: int | None = 13
    ptime_ms: int = 20
    direction: Direction = Direction.SENDRECV
    srtp_local: str | None = None  # our a=crypto value (we encrypt with it)
    srtp_remote: str | None = None  # the far end's a=crypto value
    latch: bool = True
    echo_canceller: bool = True
    dtmf_mute: bool = True  # mute in-band DTMF toward SIP while it is sent as RFC 4733
    dtmf_detect: bool = True
    jitter_min_ms: int = 20
    jitter_max_ms: int = 200
    rtp_timeout_s: float = 30.0
    cname: str = "tdmgw"
    local_host: str = "0.0.0.0"
    rtcp_mux: bool = False  # RFC 5761 (a=rtcp-mux negotiated): RTCP on the RTP port both ways

    def __post_init__(self) -> None:
        object.__setattr__(self, "codec", Codec(self.codec))
        object.__setattr__(self, "direction", Direction(self.direction))
        if self.remote is not None:
            object.__setattr__(self, "remote", (str(self.remote[0]), int(self.remote[1])))
        if self.ptime_ms not in (10, 20, 30):
            raise SpecError(f"ptime {self.ptime_ms} ms: 10, 20 or 30 only")
        if not 0 <= self.payload_type <= 127:
            raise SpecError(f"payload type {self.payload_type} outside 0..127")
        for pt in (self.event_pt, self.cn_pt):
            if pt is not None and (not 0 <= pt <= 127 or pt == self.payload_type):
                raise SpecError(f"payload type {pt} invalid or clashes with audio {self.payload_type}")
        if self.rtcp_mux and any(pt is not None and 64 <= pt <= 95
                                 for pt in (self.payload_type, self.event_pt, self.cn_pt)):
            raise SpecError("rtcp-mux: payload types 64-95 clash with RTCP (RFC 5761 s4)")
        if (self.srtp_local is None) != (self.srtp_remote is None):
            raise SpecError("SRTP needs both srtp_local and srtp_remote")
        if self.jitter_min_ms > self.jitter_max_ms:
            raise SpecError("jitter_min_ms above jitter_max_ms")

    @property
    def ptime(self) -> int:
        return self.ptime_ms * 8

    def with_(self, **changes: Any) -> StreamSpec:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["codec"] = str(self.codec)
        d["direction"] = str(self.direction)
        d["remote"] = list(self.remote) if self.remote else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StreamSpec:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise SpecError(f"unknown stream fields: {unknown}")
        if known.get("remote") is not None:
            known["remote"] = tuple(known["remote"])
        try:
            return cls(**known)
        except (TypeError, ValueError) as e:
            raise SpecError(str(e)) from None


@dataclass
class StreamCounters:
    """Safety and reception counters of one stream (all bounded work, never buffered)."""

    rx_packets: int = 0
    tx_packets: int = 0
    dropped_address: int = 0  # not from the negotiated/latched address
    dropped_malformed: int = 0
    dropped_payload_type: int = 0
    dropped_srtp: int = 0
    dropped_hold: int = 0
    ssrc_changes: int = 0
    events_rx: int = 0
    events_tx: int = 0
    cn_rx: int = 0
    rtcp_rx: int = 0
    rtcp_tx: int = 0
    rtcp_dropped: int = 0
    send_errors: int = 0


class LatencyRing:
    """The last 512 samples of one hop, in ms (bounded)."""

    __slots__ = ("n", "v")

    def __init__(self) -> None:
        self.v = np.zeros(512, dtype=np.float32)
        self.n = 0

    def add(self, ms: float) -> None:
        self.v[self.n & 511] = ms
        self.n += 1

    def add_many(self, ms: npt.NDArray[np.float64] | list[float]) -> None:
        for x in ms:
            self.add(float(x))

    def summary(self) -> dict[str, float]:
        if not self.n:
            return {"p50": float("nan"), "p99": float("nan"), "last": float("nan")}
        v = self.v[: min(self.n, 512)]
        p50, p99 = np.percentile(v, [50, 99])
        return {"p50": round(float(p50), 3), "p99": round(float(p99), 3),
                "last": round(float(self.v[(self.n - 1) & 511]), 3)}


@dataclass
class Latency:
    """Per-hop samples (ms) for the two directions (issue 9, item 5)."""

    tdm_dsp: LatencyRing = field(default_factory=LatencyRing)  # block complete -> packet built
    tdm_socket: LatencyRing = field(default_factory=LatencyRing)  # packet built -> sendto returned
    tdm_total: LatencyRing = field(default_factory=LatencyRing)  # first sample in -> on the wire
    rtp_socket: LatencyRing = field(default_factory=LatencyRing)  # kernel arrival -> read by us
    rtp_jitter: LatencyRing = field(default_factory=LatencyRing)  # jitter buffer depth at arrival
    rtp_total: LatencyRing = field(default_factory=LatencyRing)  # packet in -> first sample out
    # rtp_total less the jitter buffer's target when that sample went out: what the path
    # adds beyond the delay the buffer holds on purpose for the jitter it measured (the
    # target moves: against the last target, a spike's hold decaying looked like excess)
    rtp_beyond: LatencyRing = field(default_factory=LatencyRing)

    def clear(self) -> None:
        """Forget the samples (a measurement that starts now: `reset_latency`)."""
        for r in self.__dict__.values():
            r.n = 0

    def raw(self) -> dict[str, list[float]]:
        """The samples themselves (benches pool them across calls)."""
        return {k: [round(float(x), 3) for x in r.v[: min(r.n, 512)]] for k, r in self.__dict__.items()}


class Stream:
    """Per-call RTP state.  The sockets belong to the media process, not to this object."""

    def __init__(self, spec: StreamSpec, now: float) -> None:
        self.spec = spec
        self.row = spec.channel  # row in the engine: span offset + channel when spans are grouped
        self.sender = RtpSender(spec.payload_type)
        self.events_out = EventSender(self.sender, spec.event_pt) if spec.event_pt is not None else None
        self.events_in = EventReceiver()
        self.rtcp = RtcpSession(self.sender.ssrc, spec.cname.encode(), now)
        self.source: ReceptionStats | None = None
        self.remote_ssrc: int | None = None
        self.latched: Addr | None = None
        self.latched_rtcp: Addr | None = None
        self.cn = cnmod.CnGenerator()
        self.cn_active = False
        self.srtp: SrtpContext | None = None
        if spec.srtp_local and spec.srtp_remote:
            self.srtp = SrtpContext(CryptoAttribute.parse(spec.srtp_local),
                                    CryptoAttribute.parse(spec.srtp_remote))
        self.counters = StreamCounters()
        self.latency = Latency()
        self.last_rx = now
        self.timed_out = False
        self.tone_digit: str | None = None  # RFC 4733 event being played in-band toward the PBX
        self.tone_started = 0  # span sample at which it started
        self.tone_stop_at: int | None = None
        self.dtmf_digit: str | None = None  # in-band digit detected and being sent as RFC 4733
        self.dtmf_duration: int | None = None  # its length as the detector measured it (samples)
        self.local_tone: str | None = None  # "ringback", ... toward the PBX
        self.opened = now
        self.sock: Any = None  # the media process's RTP socket for this call (the engine never uses it)
        self.first_in = now  # when the first sample of the last packet built entered the span

    # -------------------------------------------------------------- addresses

    @property
    def rx_on(self) -> bool:
        """The direction receives RTP (not sendonly/inactive, RFC 3264 s5.1)."""
        d = self.spec.direction  # (identity: an enum's == is Python code, and this runs per packet)
        return d is Direction.SENDRECV or d is Direction.RECVONLY

    @property
    def send_addr(self) -> Addr | None:
        return self.latched or self.spec.remote

    @property
    def rtcp_addr(self) -> Addr | None:
        if self.latched_rtcp:
            return self.latched_rtcp
        a = self.send_addr
        if self.spec.rtcp_mux:
            return a  # RFC 5761 s5.1.3: RTCP goes to the RTP address
        return (a[0], a[1] + 1) if a else None

    def trusted(self, addr: Addr) -> bool | None:
        """True: from the latched (or negotiated) address; False: drop; None: may latch if valid."""
        if self.latched is not None:
            return addr == self.latched
        if self.spec.remote is not None and addr == self.spec.remote:
            return True
        return None if self.spec.latch else False

    def modify(self, spec: StreamSpec, now: float) -> None:
        old = self.spec
        self.spec = spec
        if spec.remote != old.remote or spec.rtcp_mux != old.rtcp_mux:
            self.latched = None
            self.latched_rtcp = None
        if spec.payload_type != old.payload_type:
            self.sender.payload_type = spec.payload_type
        if spec.event_pt != old.event_pt:
            self.events_out = EventSender(self.sender, spec.event_pt) if spec.event_pt is not None else None
        if (spec.srtp_local, spec.srtp_remote) != (old.srtp_local, old.srtp_remote):
            self.srtp = None
            if spec.srtp_local and spec.srtp_remote:
                self.srtp = SrtpContext(CryptoAttribute.parse(spec.srtp_local),
                                        CryptoAttribute.parse(spec.srtp_remote))
        self.last_rx = now
        self.timed_out = False

    # -------------------------------------------------------------- statistics

    def stats(self) -> dict[str, Any]:
        src = self.source
        rtcp_remote = self.rtcp.remote_reports[-1] if self.rtcp.remote_reports else None
        return {
            "call_id": self.spec.call_id,
            "span": self.spec.span,
            "channel": self.spec.channel,
            "local_ssrc": self.sender.ssrc,
            "remote_ssrc": self.remote_ssrc,
            "latched": list(self.latched) if self.latched else None,
            "counters": dict(self.counters.__dict__),
            "rx": None if src is None else {
                "expected": src.seq.expected, "received": src.seq.received,
                "lost": src.cumulative_lost, "jitter_ms": round(src.jitter / 8.0, 3),
            },
            "remote_report": None if rtcp_remote is None else {
                "fraction_lost": rtcp_remote.fraction_lost / 256.0,
                "cumulative_lost": rtcp_remote.cumulative_lost,
                "jitter_ms": rtcp_remote.jitter / 8.0,
            },
            "rtt_ms": None if self.rtcp.last_rtt is None else round(self.rtcp.last_rtt * 1000, 3),
            "srtp": None if self.srtp is None else {
                "auth_failures": self.srtp.auth_failures, "replays": self.srtp.replays},
        }
