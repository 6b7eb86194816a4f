"""The one span interface: what a T1/E1 PRI span looks like to the rest of tdmgw.

A span, DAHDI card or virtual, offers the same four things:

* **D-channel** frames in and out as ``bytes``: address (2 octets), control
  (1 or 2) and information (0 to 260), without flags or FCS (Q.921 2.1,
  N201 = 260 octets, Q.921 5.9.3).  The driver adds and strips the FCS.
* **B-channel audio**, span-clocked: once per *block* (``block_samples``
  samples, 8 kHz) the span hands its listener one ``(channels, samples)``
  ``uint8`` array of G.711 codes in the span's law, row *i* being timeslot
  ``params.bchannels[i]``.  The call to :meth:`SpanListener.span_block` *is*
  the clock: the media plane sends every call's RTP packet for that block at
  once, then writes the block to transmit with :meth:`Span.write_block`
  (same shape).  A block not written in time goes out as the idle code and
  is counted (``tx_underruns``).
* **Alarms** (red, yellow, blue, loss of signal, loss of frame) and
  **counters** (slips, CRC errors, bipolar violations and the driver's own),
  with an event each time they change.
* **Timing source**: by default the user side takes timing from the line and
  the network side provides the clock; anything else is configured
  explicitly and warned about (:func:`resolve_timing`).

:class:`SpanState` is the sans-I/O bookkeeping each driver uses to turn raw
alarm bits and counter readings into events.  :class:`SpanParams` is a
frozen, typed copy of a span's configuration, so that the drivers do not
depend on the configuration schema's types.
"""

from __future__ import annotations

import abc
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

#: 8,000 frames (samples per channel) per second on T1 and E1 (G.704).
SAMPLE_RATE = 8000
#: Shortest D-channel frame: address 2 + control 1 (Q.921 2.1).
DFRAME_MIN = 3
#: Longest: address 2 + control 2 + information N201 = 260 (Q.921 5.9.3).
DFRAME_MAX = 2 + 2 + 260

Block = NDArray[np.uint8]


class FrameError(ValueError):
    """A D-channel frame the span cannot carry (length outside 3..264)."""


class SpanError(RuntimeError):
    """The span cannot do what was asked (not started, device missing...)."""


class Law(enum.StrEnum):
    """G.711 companding law of a span's B-channels (G.711 Tables 1a/2a)."""

    ULAW = "mulaw"
    ALAW = "alaw"

    @property
    def idle(self) -> int:
        """The idle (silence) code: µ-law 0xFF, A-law 0xD5 (0x80 after even-bit inversion)."""
        return 0xFF if self is Law.ULAW else 0xD5


class SpanType(enum.StrEnum):
    """Line type: T1 (24 timeslots, 1.544 Mbit/s) or E1 (32, 2.048 Mbit/s)."""

    T1 = "T1"
    E1 = "E1"

    @property
    def timeslots(self) -> int:
        """Timeslots per frame on the wire: 24 on T1 (TS1-24), 32 on E1 (TS0-31)."""
        return 24 if self is SpanType.T1 else 32

    @property
    def first_timeslot(self) -> int:
        """Number of the first timeslot carried in a frame (T1 TS1, E1 TS0)."""
        return 1 if self is SpanType.T1 else 0

    @property
    def default_dchannel(self) -> int:
        """The PRI D-channel timeslot: 24 on T1, 16 on E1 (Q.931 / I.431)."""
        return 24 if self is SpanType.T1 else 16

    @property
    def default_bchannels(self) -> tuple[int, ...]:
        """All B-channel timeslots of a PRI: T1 1-23, E1 1-15 and 17-31."""
        if self is SpanType.T1:
            return tuple(range(1, 24))
        return tuple(ts for ts in range(1, 32) if ts != 16)

    @property
    def default_law(self) -> Law:
        """µ-law on T1 (North America, Japan), A-law on E1 (G.711 s2)."""
        return Law.ULAW if self is SpanType.T1 else Law.ALAW


class Timing(enum.StrEnum):
    """Where the span's 8 kHz clock comes from."""

    LINE = "line"  # recovered from the received line signal
    INTERNAL = "internal"  # the gateway provides the clock
    AUTO = "auto"  # follow the side (see resolve_timing)


class Side(enum.StrEnum):
    """The gateway's Q.931 side on this span."""

    USER = "user"  # the PBX is network side (the usual set-up beside a PBX)
    NETWORK = "network"


class Alarm(enum.IntFlag):
    """Span alarms (G.775 / T1.231 terms)."""

    NONE = 0
    RED = 1  # local alarm: no usable signal or framing received
    YELLOW = 2  # remote alarm indication: the far end reports red (RAI)
    BLUE = 4  # alarm indication signal: all ones received (AIS)
    LOS = 8  # loss of signal
    LOF = 16  # loss of frame alignment

    def names(self) -> list[str]:
        """Lower-case names of the set alarms, in a stable order."""
        return [a.name.lower() for a in Alarm if a and a in self and a.name]


@dataclass(frozen=True)
class Counters:
    """Cumulative span counters since the span was started.

    ``slips``, ``crc_errors`` and ``bipolar_violations`` are the line's
    (DAHDI_SPANSTAT ``count.timingslips``, ``count.crc4``, ``count.bpv``;
    on the virtual span slips are playout buffer over/underflows).  The
    others are the driver's own: lost frames filled with the idle code,
    D-channel frames dropped (bad length, bad FCS, HDLC abort/overrun),
    transmit blocks not written in time (``tx_underruns``), receive blocks
    the kernel dropped because the gateway read too late (``rx_overruns``),
    and far-end reconnects.
    """

    slips: int = 0
    crc_errors: int = 0
    bipolar_violations: int = 0
    fas_errors: int = 0
    lost_frames: int = 0
    reordered_packets: int = 0
    dchannel_dropped: int = 0
    dchannel_bad_fcs: int = 0
    tx_underruns: int = 0
    rx_overruns: int = 0
    reconnects: int = 0

    def __add__(self, other: Counters) -> Counters:
        return Counters(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def __sub__(self, other: Counters) -> Counters:
        return Counters(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}

    def nonzero(self) -> dict[str, int]:
        return {k: v for k, v in self.as_dict().items() if v}


@dataclass(frozen=True)
class VirtualParams:
    """Virtual span sockets (see drivers.virtual_proto for the wire format)."""

    dchannel_socket: str
    bchannel_local: tuple[str, int]
    bchannel_remote: tuple[str, int]
    frames_per_packet: int = 8
    playout_ms: int = 4


@dataclass(frozen=True)
class DahdiParams:
    """DAHDI channel numbering and block size (see drivers.dahdi)."""

    basechan: int | None = None  # None: found from DAHDI (sysfs) at start
    blocksize: int = 40


@dataclass(frozen=True)
class SpanParams:
    """One span's configuration, as the drivers need it.

    ``bchannels`` and ``dchannel`` are timeslot numbers (T1 1-24, E1 1-31,
    E1 TS0 being framing); on DAHDI, channel = ``basechan + timeslot - 1``.
    ``block_samples`` is the span block: samples per channel per
    :meth:`SpanListener.span_block` call (a multiple of 8, 1 ms; default 40,
    5 ms, the DAHDI blocksize default: see drivers.dahdi for why).
    """

    name: str
    number: int
    driver: str  # "dahdi" | "virtual"
    type: SpanType
    framing: str = ""
    coding: str = ""
    crc4: bool = False
    timing: Timing = Timing.AUTO
    switchtype: str = "ni2"
    side: Side = Side.USER
    bchannels: tuple[int, ...] = ()
    dchannel: int | None = None
    law: Law | None = None
    hunting: str = "ascending"
    profile: str = "generic"
    block_samples: int = 40
    virtual: VirtualParams | None = None
    dahdi: DahdiParams | None = None

    def __post_init__(self) -> None:
        t = SpanType(self.type)
        object.__setattr__(self, "type", t)
        object.__setattr__(self, "timing", Timing(self.timing))
        object.__setattr__(self, "side", Side(self.side))
        if not self.framing:
            object.__setattr__(self, "framing", "esf" if t is SpanType.T1 else "ccs")
        if not self.coding:
            object.__setattr__(self, "coding", "b8zs" if t is SpanType.T1 else "hdb3")
        if self.law is None:
            object.__setattr__(self, "law", t.default_law)
        else:
            object.__setattr__(self, "law", Law(self.law))
        if not self.bchannels:
            object.__setattr__(self, "bchannels", t.default_bchannels)
        if self.dchannel is None:
            object.__setattr__(self, "dchannel", t.default_dchannel)
        self._check()

    def _check(self) -> None:
        hi = 24 if self.type is SpanType.T1 else 31
        ts = list(self.bchannels)
        if len(set(ts)) != len(ts):
            raise ValueError(f"span {self.name}: bchannels has duplicates: {ts}")
        for n in ts:
            if not 1 <= n <= hi:
                raise ValueError(f"span {self.name}: bchannel {n} outside 1..{hi} on {self.type}")
        if self.dchannel is not None and self.dchannel != 0:
            if not 1 <= self.dchannel <= hi:
                raise ValueError(f"span {self.name}: dchannel {self.dchannel} outside 1..{hi}")
            if self.dchannel in ts:
                raise ValueError(f"span {self.name}: dchannel {self.dchannel} is also a bchannel")
        if self.block_samples % 8 or not 8 <= self.block_samples <= 1600:
            raise ValueError(f"span {self.name}: block_samples {self.block_samples}: "
                             "expected a multiple of 8 from 8 to 1600")
        if self.driver not in ("dahdi", "virtual"):
            raise ValueError(f"span {self.name}: driver {self.driver!r}: expected 'dahdi' or 'virtual'")
        if self.driver == "virtual" and self.virtual is None:
            raise ValueError(f"span {self.name}: driver 'virtual' needs a [virtual] section")

    @property
    def span_law(self) -> Law:
        assert self.law is not None
        return self.law

    @property
    def channels(self) -> int:
        """Rows of a span block: the number of B-channels."""
        return len(self.bchannels)

    @property
    def effective_timing(self) -> Timing:
        return resolve_timing(self.side, self.timing)[0]

    def with_(self, **changes: Any) -> SpanParams:
        return replace(self, **changes)

    @classmethod
    def from_config(cls, cfg: Any, block_samples: int | None = None) -> SpanParams:
        """Build from a configuration object with the SpanConfig attribute names.

        Works with the pydantic ``SpanConfig`` of appliance.config or any object
        (or mapping) with the same fields; enum-valued fields may be strings.
        """

        def get(obj: Any, key: str, default: Any = None) -> Any:
            if obj is None:
                return default
            if isinstance(obj, dict):
                return obj.get(key, default)
            return getattr(obj, key, default)

        def addr(v: Any) -> tuple[str, int]:
            if hasattr(v, "host") and hasattr(v, "port"):
                return (str(v.host), int(v.port))
            if isinstance(v, str):
                host, _, port = v.rpartition(":")
                return (host.strip("[]"), int(port))
            return (str(v[0]), int(v[1]))

        virt = get(cfg, "virtual")
        vp = None
        if virt is not None:
            vp = VirtualParams(
                dchannel_socket=str(get(virt, "dchannel_socket")),
                bchannel_local=addr(get(virt, "bchannel_local")),
                bchannel_remote=addr(get(virt, "bchannel_remote")),
                frames_per_packet=int(get(virt, "frames_per_packet", 8)),
                playout_ms=int(get(virt, "playout_ms", 4)),
            )
        dah = get(cfg, "dahdi")
        number = int(get(cfg, "number", 1))
        t = SpanType(str(_enum_value(get(cfg, "type", "T1"))).upper())
        dp = None
        bs = block_samples
        if dah is not None:
            base = get(dah, "basechan")
            dp = DahdiParams(basechan=None if base is None else int(base),
                             blocksize=int(get(dah, "blocksize", 40) or 40))
            bs = bs or dp.blocksize
        law = get(cfg, "law")
        if law is not None and str(_enum_value(law)).lower() in ("ulaw", "u-law", "µlaw"):
            law = Law.ULAW
        dch = get(cfg, "dchannel")
        if dch == 0:
            dch = None
        return cls(
            name=str(get(cfg, "name", f"span{number}")),
            number=number,
            driver=str(get(cfg, "driver", "virtual")),
            type=t,
            framing=str(_enum_value(get(cfg, "framing", "")) or "").lower(),
            coding=str(_enum_value(get(cfg, "coding", "")) or "").lower(),
            crc4=bool(get(cfg, "crc4", None) if get(cfg, "crc4", None) is not None
                      else t is SpanType.E1),
            timing=Timing(str(_enum_value(get(cfg, "timing", "auto"))).lower()),
            switchtype=str(_enum_value(get(cfg, "switchtype", "ni2"))),
            side=Side(str(_enum_value(get(cfg, "side", "user"))).lower()),
            bchannels=tuple(int(x) for x in (get(cfg, "bchannels") or ())),
            dchannel=None if dch is None else int(dch),
            law=None if law is None else Law(str(_enum_value(law)).lower()),
            hunting=str(_enum_value(get(cfg, "hunting", "ascending"))),
            profile=str(get(cfg, "profile", "generic") or "generic"),
            block_samples=int(bs or 40),
            virtual=vp,
            dahdi=dp,
        )


def _enum_value(v: Any) -> Any:
    return v.value if isinstance(v, enum.Enum) else v


def resolve_timing(side: Side, timing: Timing) -> tuple[Timing, str | None]:
    """Effective timing source and a warning when it departs from the default.

    The user side takes timing from the line (the PBX or carrier is the
    master); the network side provides the clock.  Two masters or two slaves
    on one link slip continuously, so a non-default choice is allowed but
    warned about.
    """
    default = Timing.LINE if Side(side) is Side.USER else Timing.INTERNAL
    timing = Timing(timing)
    if timing is Timing.AUTO or timing is default:
        return default, None
    return timing, (f"timing '{timing}' on the {side} side: the default is '{default}'; "
                    "make sure exactly one end of the link provides the clock, or it will slip")


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class SpanEvent:
    """Base of everything a span reports besides frames and blocks."""

    span: str
    at: float


@dataclass(frozen=True)
class AlarmChanged(SpanEvent):
    """The span's alarm set changed: ``raised`` and ``cleared`` are the differences."""

    alarms: Alarm
    raised: Alarm
    cleared: Alarm

    @property
    def layer1_up(self) -> bool:
        return not (self.alarms & (Alarm.RED | Alarm.BLUE | Alarm.LOS | Alarm.LOF))


@dataclass(frozen=True)
class CountersChanged(SpanEvent):
    """One or more counters moved: ``delta`` is the change, ``counters`` the totals."""

    counters: Counters
    delta: Counters


@dataclass(frozen=True)
class TimingWarning(SpanEvent):
    """The configured timing source is not the side's default (see resolve_timing)."""

    message: str


@dataclass(frozen=True)
class SpanStatus:
    """A snapshot for /healthz and the log."""

    name: str
    driver: str
    type: SpanType
    law: Law
    alarms: Alarm
    counters: Counters
    timing: Timing
    layer1_up: bool
    blocks: int
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "driver": self.driver,
            "type": str(self.type),
            "law": str(self.law),
            "alarms": self.alarms.names(),
            "layer1_up": self.layer1_up,
            "timing": str(self.timing),
            "blocks": self.blocks,
            "counters": self.counters.as_dict(),
            **({"detail": self.detail} if self.detail else {}),
        }


class SpanState:
    """Sans-I/O alarm and counter bookkeeping: readings in, change events out.

    Drivers feed it what they read (DAHDI_SPANSTAT, socket state, playout
    buffer statistics); it remembers the last values and returns events only
    for what changed.  Alarm changes are also logged (raised at WARNING,
    cleared at INFO) so the log has them without a listener.
    """

    LOG_INTERVAL = 10.0

    def __init__(self, params: SpanParams, initial: Alarm = Alarm.RED) -> None:
        self.params = params
        self.alarms = initial
        self.counters = Counters()
        self._reported = Counters()
        self._logged = Counters()
        self._dirty = False
        self._logged_at = -1e18
        self.timing, self.timing_warning = resolve_timing(params.side, params.timing)
        if self.timing_warning:
            log.warning("span %s: %s", params.name, self.timing_warning)

    def set_alarms(self, alarms: Alarm, now: float) -> list[SpanEvent]:
        if alarms == self.alarms:
            return []
        old, self.alarms = self.alarms, alarms
        ev = AlarmChanged(self.params.name, now, alarms, alarms & ~old, old & ~alarms)
        if ev.raised:
            log.warning("span %s: alarm raised %s (now %s)", ev.span, ev.raised.names(), alarms.names())
        if ev.cleared:
            log.info("span %s: alarm cleared %s (now %s)", ev.span, ev.cleared.names(),
                     alarms.names() or "none")
        return [ev]

    def count(self, **inc: int) -> None:
        """Add to counters now; the event comes from :meth:`flush_counters`."""
        if any(inc.values()):
            self.counters = replace(self.counters, **{
                k: getattr(self.counters, k) + v for k, v in inc.items()})
            self._dirty = True

    def set_counters(self, **absolute: int) -> None:
        """Set counters read as totals from elsewhere (DAHDI_SPANSTAT)."""
        if any(getattr(self.counters, k) != v for k, v in absolute.items()):
            self.counters = replace(self.counters, **absolute)
            self._dirty = True

    def flush_counters(self, now: float) -> list[SpanEvent]:
        """One CountersChanged for everything counted since the last flush.

        The log gets the changes at most once per ``LOG_INTERVAL`` seconds
        (summed), so a span that slips every block does not flood it.
        """
        if not self._dirty:
            return []
        self._dirty = False
        delta = self.counters - self._reported
        if not delta.nonzero():
            return []
        self._reported = self.counters
        if now - self._logged_at >= self.LOG_INTERVAL:
            log.info("span %s: counters changed by %s (totals %s)", self.params.name,
                     (self.counters - self._logged).nonzero(), self.counters.nonzero())
            self._logged, self._logged_at = self.counters, now
        return [CountersChanged(self.params.name, now, self.counters, delta)]


# ---------------------------------------------------------------- interface


class SpanListener(Protocol):
    """What a span calls.  All calls come from the asyncio loop that runs the span."""

    def span_frame(self, span: Span, frame: bytes) -> None:
        """A D-channel frame arrived: address + control + information, no FCS."""

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        """Block ``index`` is complete: ``rx`` is (channels, block_samples) uint8.

        The array is only valid during the call (the driver may reuse it).
        Write the matching transmit block with :meth:`Span.write_block`.
        """

    def span_event(self, span: Span, event: SpanEvent) -> None:
        """Alarms or counters changed, or a timing warning."""


class NullListener:
    """Drops everything: the listener of a span nobody has attached to yet."""

    def span_frame(self, span: Span, frame: bytes) -> None:
        pass

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        pass

    def span_event(self, span: Span, event: SpanEvent) -> None:
        pass


def check_frame(frame: bytes) -> None:
    """Raise FrameError unless ``frame`` is 3..264 octets (Q.921 2.1, 5.9.3)."""
    if not DFRAME_MIN <= len(frame) <= DFRAME_MAX:
        raise FrameError(f"D-channel frame of {len(frame)} octets: expected {DFRAME_MIN}..{DFRAME_MAX}")


class Span(abc.ABC):
    """A T1/E1 span.  Drivers: drivers.dahdi.DahdiSpan, drivers.virtual.VirtualSpan."""

    def __init__(self, params: SpanParams) -> None:
        self.params = params
        self.law: Law = params.span_law
        self.block_samples = params.block_samples
        self.state = SpanState(params)
        self.listener: SpanListener = NullListener()
        self.blocks = 0
        self._tx: Block | None = None
        self._tx_started = False

    @property
    def name(self) -> str:
        return self.params.name

    @property
    def channels(self) -> int:
        return self.params.channels

    def set_listener(self, listener: SpanListener) -> None:
        self.listener = listener

    def idle_block(self) -> Block:
        """A (channels, block_samples) block of the idle code."""
        return np.full((self.channels, self.block_samples), self.law.idle, dtype=np.uint8)

    @abc.abstractmethod
    async def start(self) -> None:
        """Open the span and start its clock; events start flowing."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Close everything; safe to call twice."""

    @abc.abstractmethod
    def send_frame(self, frame: bytes) -> None:
        """Queue one D-channel frame (no FCS).  Raises FrameError on a bad length."""

    def write_block(self, tx: Block) -> None:
        """Set the transmit block for the current block period."""
        if tx.shape != (self.channels, self.block_samples) or tx.dtype != np.uint8:
            raise ValueError(f"span {self.name}: tx block {tx.shape} {tx.dtype}: expected "
                             f"({self.channels}, {self.block_samples}) uint8")
        self._tx = tx
        self._tx_started = True

    def take_tx(self) -> Block:
        """The driver's side of write_block: the block to send now, idle if none was written.

        Missing blocks count as ``tx_underruns`` once a listener has started writing.
        """
        tx, self._tx = self._tx, None
        if tx is None:
            if self._tx_started:
                self.state.count(tx_underruns=1)
            return self.idle_block()
        return tx

    def status(self) -> SpanStatus:
        a = self.state.alarms
        return SpanStatus(self.name, self.params.driver, self.params.type, self.law, a,
                          self.state.counters, self.state.timing,
                          not (a & (Alarm.RED | Alarm.BLUE | Alarm.LOS | Alarm.LOF)), self.blocks,
                          self.detail())

    def detail(self) -> dict[str, Any]:
        """Driver-specific status for /healthz (device paths, peer...)."""
        return {}

    def _emit(self, events: Sequence[SpanEvent]) -> None:
        for ev in events:
            self.listener.span_event(self, ev)
