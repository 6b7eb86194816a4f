"""A simulated PBX: libpri (network side) at the far end of the gateway's virtual span.

What: `SimulatedPbx` plugs `drivers.virtual_farend.VirtualFarEnd` into the
gateway's virtual span and runs Debian's libpri (`appliance.demo.libpri`) on
its D-channel, as a PBX's PRI would.  It places calls (`place_call`) with any
of libpri's `pri_sr_*` facts (calling number and presentation, name,
redirecting number, user-user), answers offered calls as `policy` says,
hangs up with a cause, and on its B-channels sends a tone (`tone_hz`,
`tone_dbm0`) on every channel with a call and records what it receives, so
`measure(channel)` gives the frequency and level of the audio that came back
through the gateway.

How: everything runs in the caller's asyncio loop; libpri's timers run on
the wall clock (its scheduler has no injectable time, see libpri.py), polled
every 5 ms.  The tone and the analysis are numpy over the span block.

Limits: one span; calls and channels as libpri and sig_pri-like bookkeeping
allow (no overlap dialling, no RESTART handling beyond freeing channels).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.demo.libpri import Ev, LibPri, Node, Switch
from appliance.demo.libpri import Event as PriEvent
from drivers.span import Block, Span, SpanEvent, SpanParams
from drivers.virtual_farend import VirtualFarEnd
from dsp import g711
from dsp.dtmf import DtmfDetector, DtmfGenerator

log = logging.getLogger("tdmgw.demo.pbx")

RECORD = 8000  # samples kept per channel (1 s)
DBM0_ULAW = 3.14  # dBm0 of a full-scale sine in G.711 u-law (G.711 Table 5)


def chan_of(ev: PriEvent) -> int | None:
    """libpri's channel field: PRI_CHANNEL | span << 8 | PRI_EXPLICIT; -1 for none."""
    ch = int(ev.fields.get("channel", -1))
    if ch < 0 or ch & 0xFF in (0, 0xFF):
        return None
    return ch & 0xFF


@dataclass
class PbxCall:
    handle: int
    channel: int | None
    outgoing: bool
    ring: PriEvent | None = None
    state: str = "new"  # new, proceeding, ringing, answered, hangingup, gone
    events: list[PriEvent] = field(default_factory=list)
    cause: int | None = None


class SimulatedPbx:
    """libpri as the PBX behind the virtual span's far end."""

    def __init__(self, params: SpanParams, switch: Switch = Switch.NI2, *,
                 tone_hz: float = 1004.0, tone_dbm0: float = -10.0, retry: float = 0.05) -> None:
        self.params = params
        self.far = VirtualFarEnd(params, retry=retry)
        self.pri = LibPri(Node.NETWORK, switch)
        self.pri.set_timer("T200", 200)
        self.b_channels = params.bchannels
        self.calls: dict[int, PbxCall] = {}
        self.busy: dict[int, int] = {}
        self.events: list[PriEvent] = []
        self.up = False
        self.policy: Any = "answer"  # "answer", "alert", "progress", None (test drives), ("busy", c)
        self.on_event: Callable[[PbxCall, PriEvent], None] | None = None
        self.tone_hz = tone_hz
        self.tone_dbm0 = tone_dbm0
        n = len(self.b_channels)
        self.rec = np.zeros((n, RECORD), dtype=np.int16)
        self.rec_pos = np.zeros(n, dtype=np.int64)
        self.sample = 0
        self.law = params.span_law.value
        dlaw: Any = "ulaw" if self.law == "mulaw" else "alaw"
        self.dtmf_out = DtmfGenerator(n, law=dlaw)
        self.dtmf_in = DtmfDetector(n, law=dlaw)
        self.heard: dict[int, str] = {}  # channel -> DTMF digits detected from the gateway
        self.span_events = 0  # alarm and counter (slip) events of its span: a loaded machine's trace
        self._poller: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -------------------------------------------------------------- life cycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.far.set_listener(self)
        self._loop.add_reader(self.pri.wire.fileno(), self._pump)
        await self.far.start()
        self._poller = asyncio.create_task(self._poll(), name="pbx-libpri")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._loop is not None:
            self._loop.remove_reader(self.pri.wire.fileno())
        await self.far.stop()
        self.pri.close()

    def _pump(self) -> None:
        while True:
            try:
                frame = self.pri.wire.recv(4096)
            except BlockingIOError:
                return
            self.far.send_frame(frame)

    async def _poll(self) -> None:
        while True:
            for ev in self.pri.poll():
                try:
                    self._handle(ev)
                except Exception:
                    log.exception("simulated PBX: event %s", ev.name)
            await asyncio.sleep(0.005)

    # -------------------------------------------------------------- span listener

    def span_frame(self, span: Span, frame: bytes) -> None:
        self.pri.wire.send(frame)

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        n = rx.shape[1]
        decode = g711.ulaw_decode if self.law == "mulaw" else g711.alaw_decode
        pcm = decode(rx)
        for row in range(pcm.shape[0]):
            p = int(self.rec_pos[row]) % RECORD
            k = min(n, RECORD - p)
            self.rec[row, p:p + k] = pcm[row, :k]
            if k < n:
                self.rec[row, : n - k] = pcm[row, k:]
            self.rec_pos[row] += n
        out = np.zeros_like(pcm)
        active = [self.b_channels.index(ch) for ch, h in self.busy.items()
                  if h in self.calls and ch in self.b_channels]
        if active and self.tone_hz > 0:
            amp = 32767 * 10 ** ((self.tone_dbm0 - DBM0_ULAW) / 20)
            t = (self.sample + np.arange(n)) / 8000.0
            out[active] = (amp * np.sin(2 * np.pi * self.tone_hz * t)).astype(np.int16)
        busy = self.dtmf_out.busy
        if busy.any():
            digits = self.dtmf_out.process(n)
            out[busy] = digits[busy]
        for ev in self.dtmf_in.process(pcm):
            if ev.end is None:
                ch = self.b_channels[ev.channel]
                self.heard[ch] = self.heard.get(ch, "") + ev.digit
        self.sample += n
        encode = g711.ulaw_encode if self.law == "mulaw" else g711.alaw_encode
        span.write_block(encode(out))

    def span_event(self, span: Span, event: SpanEvent) -> None:
        log.debug("simulated PBX span: %s", event)
        self.span_events += 1

    def send_digits(self, channel: int, digits: str) -> None:
        """In-band DTMF on `channel` toward the gateway (Q.23 levels, 100 ms on/off)."""
        self.dtmf_out.play(self.b_channels.index(channel), digits)

    def measure(self, channel: int, samples: int = 4000) -> tuple[float, float]:
        """(frequency Hz, level dBm0) of the last `samples` received on `channel` (the median
        over 125 ms frames, `analyse_steady`)."""
        row = self.b_channels.index(channel)
        p = int(self.rec_pos[row]) % RECORD
        x = np.roll(self.rec[row], -p)[-samples:].astype(np.float64)
        return analyse_steady(x)

    # -------------------------------------------------------------- calls

    def place_call(self, called: str, *, channel: int | None = None, **facts: Any) -> PbxCall:
        """SETUP toward the gateway (facts: libpri's pri_sr_* fields, see LibPri.setup)."""
        ch = channel if channel is not None else next(
            (c for c in self.b_channels if c not in self.busy), None)
        if ch is None:
            raise RuntimeError("simulated PBX: every B-channel is busy")
        h = self.pri.new_call()
        call = PbxCall(h, ch, True)
        self.calls[h] = call
        self.busy[ch] = h
        self.pri.setup(h, called=called, channel=ch, exclusive=True, **facts)
        return call

    def answer(self, call: PbxCall) -> None:
        assert call.channel is not None
        self.pri.answer(call.handle, call.channel)
        call.state = "answered"

    def hangup(self, call: PbxCall, cause: int = 16) -> None:
        if call.state in ("hangingup", "gone"):
            return
        call.state = "hangingup"
        self.pri.hangup(call.handle, cause)

    def _free(self, handle: int) -> None:
        call = self.calls.pop(handle, None)
        for ch in [c for c, h in self.busy.items() if h == handle]:
            del self.busy[ch]
        if call is not None:
            call.state = "gone"

    def _handle(self, ev: PriEvent) -> None:
        self.events.append(ev)
        e = ev.e
        if e == Ev.DCHAN_UP:
            self.up = True
            log.info("simulated PBX: D-channel up")
            return
        if e == Ev.DCHAN_DOWN:
            self.up = False
            return
        if e == Ev.RESTART:
            ch = chan_of(ev)
            for c, held in list(self.busy.items()):
                if ch is None or c == ch:
                    self._free(held)
            return
        h = ev.fields.get("call")
        if not isinstance(h, int) or not h:
            return
        if e == Ev.RING:
            self._ring(ev, h)
            return
        call = self.calls.get(h)
        if call is None:
            return
        call.events.append(ev)
        if e == Ev.PROCEEDING:
            call.state = "proceeding"
        elif e == Ev.RINGING:
            call.state = "ringing"
        elif e == Ev.ANSWER:
            call.state = "answered"
        elif e == Ev.HANGUP_REQ:
            call.cause = int(ev.fields.get("cause", 16))
            if call.state != "hangingup":
                call.state = "hangingup"
                self.pri.hangup(h, call.cause)
        elif e == Ev.HANGUP:
            # libpri finishes a call (RELEASE COMPLETE, destroy) only when the
            # application answers PRI_EVENT_HANGUP with pri_hangup, as sig_pri does
            if call.cause is None:
                call.cause = int(ev.fields.get("cause", 16))
            self.pri.hangup(h, call.cause)
            self._free(h)
        elif e == Ev.HANGUP_ACK:
            self._free(h)
        if self.on_event is not None:
            self.on_event(call, ev)

    def _ring(self, ev: PriEvent, h: int) -> None:
        ch = chan_of(ev)
        call = PbxCall(h, ch, False, ring=ev, events=[ev])
        self.calls[h] = call
        if ch is not None:
            self.busy[ch] = h
        if self.on_event is not None:
            self.on_event(call, ev)
        pol = self.policy
        if pol is None or ch is None:
            return
        if pol == "answer":
            self.pri.proceeding(h, ch, 0)
            self.pri.answer(h, ch)
            call.state = "answered"
        elif pol == "alert":
            self.pri.proceeding(h, ch, 0)
            self.pri.acknowledge(h, ch, 1)
            call.state = "ringing"
        elif pol == "progress":
            self.pri.proceeding(h, ch, 0)
            self.pri.progress(h, ch, 1)
        elif isinstance(pol, tuple) and pol[0] == "busy":
            self.pri.proceeding(h, ch, 0)
            self.hangup(call, int(pol[1]))


def analyse_steady(x: npt.NDArray[np.float64], frame: int = 1000) -> tuple[float, float]:
    """`analyse` as the median over half-overlapping frames of `frame` samples (125 ms: the
    two tones of a ringback, 40 Hz apart, stay apart).  A block the span slipped or a packet
    concealed spoils the one or two frames it falls in, not the figure; a wrong frequency or
    level moves every frame."""
    if x.size < 2 * frame:
        return analyse(x)
    got = [analyse(x[i : i + frame], pad=4) for i in range(0, x.size - frame + 1, frame // 2)]
    return float(np.median([f for f, _ in got])), float(np.median([lv for _, lv in got]))


def analyse(x: npt.NDArray[np.float64], pad: int = 1) -> tuple[float, float]:
    """(peak frequency Hz, level dBm0) of 8 kHz linear samples (Hann window, FFT peak; the
    transform `pad` times the length, zero-filled, for finer frequency steps)."""
    if x.size == 0 or not np.any(x):
        return 0.0, -99.0
    w = np.hanning(x.size)
    spec = np.abs(np.fft.rfft(x * w, pad * x.size))
    k = int(np.argmax(spec[1:]) + 1)
    freq = k * 8000.0 / (pad * x.size)
    rms = float(np.sqrt(np.mean(x * x)))
    level = 20 * np.log10(max(rms, 1e-9) * np.sqrt(2) / 32767) + DBM0_ULAW
    return freq, float(level)
