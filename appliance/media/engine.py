"""The per-span media engine: every call of a span processed once per span block.

Each span block (`tick(rx, now, write)`, or `tick_rtp` then `tick_pbx` for a
caller that sends in between), for all channels at once:

1. from the PBX (`tick_rtp`): decode into the packetiser ring, beside the
   Rin written toward the PBX one block earlier (it went on the line during
   this block, and its echo comes back a block later at the earliest); the
   echo canceller (`dsp.echo`, Rin = what was written toward the PBX, Sin =
   what came back) runs once per packet interval, over every channel at
   once, on the samples of the packets that complete at this block: a
   packet needs its ptime of Sin anyway, so cancelling then adds nothing to
   TDM->RTP, and Rin toward the PBX never waits for the canceller (it only
   reads Rin).  The channels are split into `phases` groups of consecutive
   rows (one canceller each, at least EC_GROUP_MIN rows by default), and a
   group's packets complete `block` samples after the previous group's: so
   each block cancels and sends about 1/phases of the calls (even load,
   short blocks) instead of all of them every fourth block.  A canceller
   runs at 20 ms steps for 20 ms calls (it pays a transform pair per call
   and step, so 20 ms steps cost about two thirds of 5 ms ones per
   channel-second);
2. toward the PBX (`tick_pbx`, after the packets of step 3 have left): the
   jitter buffer's next samples (`jitter`), comfort noise where the far end
   sent a SID (`cn`), concealment of what was lost (`plc`, G.711 Appendix
   I), RFC 4733 events from SIP played in-band (`dsp.dtmf.DtmfGenerator`),
   local tones (ringback); encoded in the span's law and handed to the span
   (`write`).  In-band DTMF is detected after the canceller
   (`after_send`, `dsp.dtmf.DtmfDetector`, 20 ms at a time once every phase
   has it) and sent as RFC 4733 events, the tone muted toward SIP while it
   lasts when configured;
3. packetisation: every call whose packet is complete at this block
   (ptime boundaries on the span's sample count, shifted by the row's
   phase: `phase * block` samples) gets its RTP packet, encoded straight into the call's
   RTP law from the linear signal (no second conversion: when the laws
   differ the conversion is this one encoding; when a call is transparent
   (no canceller) and the laws are equal the span's codes go out
   untouched, and when they differ G.711 Tables 3/4 convert them).

The span's block is the only clock: the engine keeps no timers of its own
for media.  `receive_rtp()`, `receive_batch()` and `receive_rtcp()` take
datagrams with their arrival time (the receive side is
appliance.media.engine_rx); `poll(now)` runs RTCP and the RTP timeout.
Sockets are the caller's (appliance.media.process).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from appliance.media.dtmf_events import digit_to_event
from appliance.media.engine_rx import IDEAL_RESET_S, RtpIn
from appliance.media.jitter import JitterBuffer
from appliance.media.plc import G711Plc
from appliance.media.stream import Addr, Codec, Direction, Stream
from dsp import g711

Event = dict[str, Any]
U8 = npt.NDArray[np.uint8]
I16 = npt.NDArray[np.int16]
ACC = 480  # packetiser ring: lcm of the 10, 20 and 30 ms packets
# the span's ideal timeline (see SpanEngine._ideal): its anchor rises by at most this much
# per second (a span clock 200 ppm slow against the host's is still followed); it is set
# again after a stall of IDEAL_RESET_S (appliance.media.engine_rx, which bounds each
# packet's wait with it): a restarted span, or one whose clock skipped the blocks of a
# stall (ClockSpan skips past 200 ms; DAHDI slips when its buffers overrun)
IDEAL_CREEP = 200e-6
EC_GROUP_MIN = 60  # rows of a phase group by default (see SpanEngine.__init__) ...
EC_GROUPS_MAX = 2  # ... and at most this many groups
LAT_NONE = np.iinfo(np.int64).max  # _lat_next of a row with no sampled packet waiting


def _decoder(law: str) -> Callable[[U8], I16]:
    return g711.ulaw_decode if law == "mulaw" else g711.alaw_decode


def _encoder(law: str) -> Callable[[I16], U8]:
    return g711.ulaw_encode if law == "mulaw" else g711.alaw_encode


class SpanEngine(RtpIn):
    """Media for one span: `channels` rows of `block` samples in law `law` ("mulaw"/"alaw")."""

    def __init__(self, name: str, channels: int, law: str, block: int, *, echo: bool = True,
                 tail_ms: int = 128, dtmf: bool = True, ring: int = 8192, country: str = "US",
                 clock: Callable[[], float] = time.monotonic, phases: int | None = None) -> None:
        if law not in ("mulaw", "alaw"):
            raise ValueError(f"law {law!r}: expected 'mulaw' or 'alaw'")
        self.name = name
        self.channels = channels
        self.law = law
        self.block = block
        self.clock = clock
        self.streams: list[Stream | None] = [None] * channels
        self.jb = JitterBuffer(channels, ring=ring, block=block)
        self.plc = G711Plc(channels)
        # phase groups of consecutive rows: group k's packets end `k * block` samples after
        # those of group 0 (same ptime).  Each group pays the canceller's fixed cost per call
        # (about 0.55 ms a step here: 240 channels cost 1.23x in 2 groups and 1.6x in 4 what
        # they cost in one), so by default there are at most EC_GROUPS_MAX groups of at least
        # EC_GROUP_MIN rows: 120 channels (a media process's 4 E1 spans, the default share
        # at 8 spans on 2 cores) give 2 groups of 60, so half the canceller's filtering runs
        # before each packet (its adaptation waits for a later block: after_send); at 240
        # calls TDM->RTP p99 23.5-24.8 ms, against 25.2-25.8 with one group of 120, which
        # costs 0.04-0.07 cores less; 240 give 2 of 120, 60 or fewer one.  Consecutive rows
        # make a group's rows a view of the rings (no gather), and a group with no call
        # (hunting fills channels in order) costs nothing
        most = max(1, 160 // block)
        want = max(1, min(EC_GROUPS_MAX, channels // EC_GROUP_MIN)) if phases is None else phases
        self.phases = max(1, min(want, most, channels))
        self._ph_size = -(-channels // self.phases)
        self.ph_rows = [slice(k * self._ph_size, min(channels, (k + 1) * self._ph_size))
                        for k in range(self.phases)]
        self.ph_rows = [r for r in self.ph_rows if r.stop > r.start]
        self.ecs: list[Any] = []  # one canceller per phase group, its rows in `ph_rows[k]`
        if echo:
            from dsp.echo import EchoCanceller

            self.ecs = [EchoCanceller(r.stop - r.start, tail_ms) for r in self.ph_rows]
            # the canceller transforms 160-sample blocks: a step that ends off its block
            # boundary costs a partial block more (measured: 1.7x the canceller time at 4
            # groups).  Group k's packets end at k * block (mod 160), so its canceller is
            # first fed (160 - k * block) % 160 samples of silence, before any call: its
            # blocks then end where the group's 20 ms packets do (10 ms ones on half blocks)
            for k, ec in enumerate(self.ecs):
                lead = (-k * block) % 160
                if lead >= 8:
                    z = np.zeros((self.ph_rows[k].stop - self.ph_rows[k].start, lead), np.int16)
                    ec.process(z, z)
        self.ec: Any = self.ecs or None
        self.ec_done = [0] * len(self.ph_rows)  # span samples through each group's canceller
        self._ph_ends: list[int] = [0] * len(self.ph_rows)
        self._ph_busy: list[bool] = [False] * len(self.ph_rows)
        self._ec_ran: list[bool] = [False] * len(self.ph_rows)  # the group's canceller ran this block
        self.det: Any = None
        self.gen: Any = None
        dlaw: Literal["ulaw", "alaw"] = "ulaw" if law == "mulaw" else "alaw"
        from dsp.dtmf import DtmfDetector, DtmfGenerator

        if dtmf:
            self.det = DtmfDetector(channels, law=dlaw)
        self.gen = DtmfGenerator(channels, law=dlaw)
        from dsp.tones import CallProgressGenerator

        self.progress = CallProgressGenerator(channels, country, law=dlaw)
        self._tones_on: set[int] = set()  # rows playing a local call progress tone toward the PBX
        self.det_min = 160
        self._playing: set[int] = set()  # channels with an in-band digit toward the PBX
        self._decode = _decoder(law)
        self._encode = _encoder(law)
        self.acc = np.zeros((channels, ACC), dtype=np.int16)
        self.acc_codes = np.zeros((channels, ACC), dtype=np.uint8)
        self.acc_rin = np.zeros((channels, ACC), dtype=np.int16)  # Rin at the same ring positions
        self.det_done = 0  # span samples of the ring through the DTMF detector
        self._ar = np.arange(ACC, dtype=np.intp)
        self.samples = 0  # span samples processed (the media clock)
        self.t_tick = clock()  # the last read's time on the span's ideal timeline
        self._t_ref = float("inf")  # that timeline's time of span sample 0
        self.t_now = self.t_tick  # when the current batch of datagrams was read
        self.t_write = self.t_tick
        self._groups: list[tuple[int, Codec, int, npt.NDArray[np.intp], list[Stream]]] = []
        self._transparent = np.zeros(channels, dtype=bool)
        # in-band DTMF muting toward SIP: rows with a digit detected, or a detector window that
        # may start one (un-muted again when no digit follows), on rows that mute (spec.dtmf_mute)
        self._mute_ok = np.zeros(channels, dtype=bool)
        self._digit_on = np.zeros(channels, dtype=bool)
        self._mute = np.zeros(channels, dtype=bool)
        self._pending_lat: dict[int, deque[tuple[int, float]]] = {}
        # the extended timestamp of each row's oldest sampled packet still in the buffer
        # (LAT_NONE: none), so that a read visits only the rows whose sample it plays
        self._lat_next = np.full(channels, LAT_NONE, dtype=np.int64)
        # rows whose stream has comfort noise on (Stream.cn_active, kept by RtpIn._set_cn):
        # tick_pbx visits a lossy row one by one only when it is one of these
        self._cn_on = np.zeros(channels, dtype=bool)
        self.events: list[Event] = []
        self.ticks = 0
        self.tick_ms = 0.0
        self._t0 = 0.0
        self._poll_from = 0  # the stream poll() starts from (reports are made in turn)
        self.cpu_echo = 0.0  # CPU seconds in the echo canceller and the DTMF detector
        self.cpu_dtmf = 0.0

    # ------------------------------------------------------------ streams

    def open(self, st: Stream) -> None:
        ch = st.row
        if not 0 <= ch < self.channels:
            raise ValueError(f"span {self.name}: no channel {ch} (0..{self.channels - 1})")
        if self.streams[ch] is not None:
            raise ValueError(f"span {self.name}: channel {ch} already carries a call")
        self.streams[ch] = st
        self._cn_on[ch] = st.cn_active
        s = st.spec
        self.jb.open(ch, s.ptime, s.jitter_min_ms * 8, s.jitter_max_ms * 8)
        self.plc.reset(ch)
        if self.ec is not None:
            ec, i = self._ec_of(ch)
            ec.reset(i)
            ec.set_enabled(i, s.echo_canceller)
        if self.det is not None:
            self.det.reset(ch)
        self._digit_on[ch] = self._mute[ch] = False
        self._regroup()

    def close(self, ch: int) -> Stream | None:
        st = self.streams[ch]
        if st is not None:
            self.end_digits(st)
        self.streams[ch] = None
        self._cn_on[ch] = False
        self.jb.close(ch)
        self.gen.reset(ch)
        self._digit_on[ch] = self._mute[ch] = False
        self._playing.discard(ch)
        self.set_tone(ch, None)
        self._pending_lat.pop(ch, None)
        self._lat_next[ch] = LAT_NONE
        self._regroup()
        return st

    def modified(self, st: Stream) -> None:
        ch = st.row
        if self.ec is not None:
            ec, i = self._ec_of(ch)
            ec.set_enabled(i, st.spec.echo_canceller)
        jc = self.jb.chans[ch]
        s = st.spec
        if jc is None or jc.ptime != s.ptime:
            self.jb.open(ch, s.ptime, s.jitter_min_ms * 8, s.jitter_max_ms * 8)
        self._regroup()

    def phase_of(self, ch: int) -> int:
        """The phase group of row `ch` (its packets end `phase * block` samples later)."""
        return ch // self._ph_size

    def _ec_of(self, ch: int) -> tuple[Any, int]:
        """The canceller of `ch`'s phase group and the channel's index in it."""
        return self.ecs[ch // self._ph_size], ch % self._ph_size

    def _regroup(self) -> None:
        groups: dict[tuple[int, Codec, int], list[int]] = {}
        for ch, st in enumerate(self.streams):
            self._mute_ok[ch] = st is not None and st.spec.dtmf_mute and st.spec.dtmf_detect
            if not self._mute_ok[ch]:
                self._mute[ch] = False
            self._transparent[ch] = False
            if st is not None:
                groups.setdefault((st.spec.ptime, st.spec.codec, ch // self._ph_size), []).append(ch)
                self._transparent[ch] = not st.spec.echo_canceller or self.ec is None
        self._groups = []
        self._ph_busy = [False] * len(self.ph_rows)
        for (p, codec, k), chans in sorted(groups.items()):
            self._ph_busy[k] = True
            rows = np.array(chans, dtype=np.intp)
            sts = [s for s in (self.streams[c] for c in chans) if s is not None]
            self._groups.append((p, codec, k, rows, sts))

    def set_tone(self, row: int, tone: str | None) -> None:
        """Local call progress tone toward the PBX on `row` ("ringback", "busy", "congestion",
        "dial"), or None to stop it (dsp.tones, the span's country plan)."""
        from dsp.tones import ProgressTone

        if tone is None:
            self.progress.stop(row)
            self._tones_on.discard(row)
            return
        self.progress.play(row, ProgressTone(tone))
        self._tones_on.add(row)

    def play_digits(self, ch: int, digits: str, on_ms: float = 100.0, off_ms: float = 100.0) -> None:
        """In-band DTMF toward the PBX (e.g. SIP INFO), on top of RFC 4733."""
        self.gen.play(ch, digits, on_ms, off_ms)
        self._playing.add(ch)


    # ------------------------------------------------------------ the block

    def tick(self, rx: U8, now: float, write: Callable[[U8], None]) -> list[tuple[Stream, bytes]]:
        """Process one span block; `write` gets the block toward the PBX; returns packets to send.

        The same as `tick_rtp()` then `tick_pbx()`: a caller with sockets sends the packets
        between the two (and reads its sockets there), so that they leave first.
        """
        out = self.tick_rtp(rx, now)
        self.tick_pbx(rx.shape[1], write)
        return out

    def tick_rtp(self, rx: U8, now: float) -> list[tuple[Stream, bytes]]:
        """The block from the PBX: into the packetiser ring, the canceller where packets
        complete, and the packets this block completes (to be sent at once)."""
        n = rx.shape[1]
        self._t0 = self.clock()
        self.ticks += 1
        # from the PBX: into the ring beside Rin (written one block earlier, see tick_pbx);
        # the canceller runs where packets complete
        s0 = self.samples
        pos = s0 % ACC
        self.acc[:, pos : pos + n] = self._decode(rx)
        if self._transparent.any():
            self.acc_codes[:, pos : pos + n] = rx
        self.samples = s1 = s0 + n
        # the packets this block completes: (group, end sample), and how far each phase
        # group's canceller must go for them (a group without calls goes with the span)
        due: list[tuple[int, Codec, npt.NDArray[np.intp], list[Stream], int]] = []
        ends = self._ph_ends
        for k in range(len(ends)):
            ends[k] = -1
            self._ec_ran[k] = False
        for p, codec, k, rows, sts in self._groups:
            o = (k * self.block) % p
            for j in range((s0 - o) // p, (s1 - o) // p):
                e = (j + 1) * p + o
                due.append((p, codec, rows, sts, e))
                ends[k] = max(ends[k], e)
        for k in range(len(ends)):
            if ends[k] >= 0:
                self._cancel(k, ends[k])
            elif not self._ph_busy[k]:
                # no call in the group: nothing to cancel; skipped in whole canceller blocks
                # so that its blocks stay aligned with the group's packets
                self.ec_done[k] += (s1 - self.ec_done[k]) // 160 * 160
            elif s1 - self.ec_done[k] >= 160:  # 30 ms calls: in 20 ms steps between packets
                self._cancel(k, self.ec_done[k] + 160)
        # packetise
        out: list[tuple[Stream, bytes]] = []
        for p, codec, rows, sts, e in due:
            self._packets(p, codec, rows, sts, e - p, out, now, s1 - e)
        return out

    def tick_pbx(self, n: int, write: Callable[[U8], None]) -> None:
        """The block toward the PBX (after `tick_rtp()` of the same block): the jitter buffer's
        next samples, comfort noise, concealment, in-band digits and local tones, encoded and
        handed to `write`.  This Rin goes on the line during the next block, so it is kept
        beside the next block's Sin for the canceller (the echo of a block comes back one
        block later at the earliest)."""
        self.t_tick = self._ideal(self.clock())  # the read: datagrams' `elapsed` counts from here
        audio, missing = self.jb.read(n)
        cur0 = self.jb.cursor - n
        cn = self.jb.lossy & self._cn_on  # jb.lossy: missing.any(axis=1) of this read
        if cn.any():
            for ch in np.flatnonzero(cn).tolist():
                st = self.streams[ch]
                if st is not None and st.cn_active:
                    m = missing[ch]
                    k = int(m.sum())
                    audio[ch, m] = st.cn.generate(k)
                    missing[ch] = False
                    js = self.jb.chans[ch]
                    if js is not None:  # a silence the far end described (RFC 3389), not a loss
                        js.stats.concealed -= k
                        js.stats.comfort_noise += k
        rin = self.plc.process(audio, missing)
        if self._playing:
            rin = self._mix_tones(rin, n)
        if self._tones_on:
            # a local tone (ringback while the SIP side rings without early media) replaces the
            # RTP audio toward the PBX on its rows
            tones = self.progress.process(n)
            trows = list(self._tones_on)
            rin = rin.copy() if rin is audio else rin
            rin[trows] = tones[trows]
        tx = self._encode(rin)
        write(tx)
        self.t_write = self.clock()
        if self._pending_lat:
            self._rtp_latency(cur0, n)
        pos = self.samples % ACC
        self.acc_rin[:, pos : pos + n] = rin
        self.tick_ms = (self.clock() - self._t0) * 1000.0

    def _ideal(self, now: float) -> float:
        """When this block's read would have happened had this process never run late.

        A packet's depth in the jitter buffer is measured from the last read to its
        arrival.  Timed by the clock, a late tick (this process stalled, then caught up
        in a burst of blocks) shifted every packet of the stall by the tick's lateness, and
        the buffer took its own process's stall for network jitter and held the delay for
        seconds.  So reads are timed on the span's timeline: sample count / 8000 from an
        anchor that follows the earliest reads (a lower envelope, rising at most
        IDEAL_CREEP so a span clock slower than the host's is followed), set again after
        a stall longer than IDEAL_RESET_S.
        """
        base = now - self.samples / 8000.0
        ref = self._t_ref + IDEAL_CREEP * self.block / 8000.0
        if base < ref or base - ref > IDEAL_RESET_S:
            ref = base
        self._t_ref = ref
        return ref + self.samples / 8000.0

    def _cancel(self, k: int, upto: int) -> None:
        """Phase group `k`'s canceller over the ring's samples [ec_done[k], upto), in steps of at
        most 160 samples; Sout replaces Sin in the ring in place."""
        rows = self.ph_rows[k]
        while self.ec_done[k] < upto:
            d = self.ec_done[k]
            m = min(upto - d, 160)
            if self.ec is not None:
                if m < 8:  # the canceller's smallest step (only with blocks not a multiple of 8)
                    return
                a = d % ACC
                self._ec_ran[k] = True
                if a + m <= ACC:
                    rin = self.acc_rin[rows, a : a + m]
                    sin = self.acc[rows, a : a + m]
                    c0 = time.thread_time()
                    self.acc[rows, a : a + m] = self.ecs[k].process(rin, sin, defer=True)
                else:
                    idx = self._ar[: m] + a
                    idx %= ACC
                    c0 = time.thread_time()
                    self.acc[rows, idx] = self.ecs[k].process(self.acc_rin[rows, idx], self.acc[rows, idx],
                                                              defer=True)
                self.cpu_echo += time.thread_time() - c0
            self.ec_done[k] = d + m

    def after_send(self) -> None:
        """Work that need not delay packets: the cancellers' adaptation (deferred by `_cancel`,
        see EchoCanceller.process) and in-band DTMF detection, both in a block after the one
        whose packets the canceller filtered (that block carries the filtering and the
        packets; the work is spread over the blocks between a group's packets).

        The detector works in 5 ms steps and pays per call, so it is fed 20 ms at a
        time (half the cost of 5 ms feeds at 240 calls); a digit found here is muted
        and sent as RFC 4733 from the next packet on (the detector itself needs 40 ms
        of tone to accept a digit, Q.24).
        """
        if self.ecs and not all(self._ec_ran):
            # a block later than the packets' block, which already carried the canceller's
            # filtering, the packets and the detectors: the blocks' work is spread out
            c0 = time.thread_time()
            for ec, ran in zip(self.ecs, self._ec_ran, strict=True):
                if not ran:
                    ec.finish()
            self.cpu_echo += time.thread_time() - c0
        if self.det is None:
            return
        ready = self.samples
        if self.ec is not None:  # through every busy group's canceller (idle ones lag, callless)
            ready = min([d for d, b in zip(self.ec_done, self._ph_busy, strict=True) if b] or [ready])
            if any(self._ec_ran) and ready - self.det_done < 2 * self.det_min:
                return  # in a block without the canceller's filtering, if one comes in time
        while ready - self.det_done >= self.det_min:
            a = self.det_done % ACC
            m = self.det_min
            block = self.acc[:, a : a + m] if a + m <= ACC else self.acc[:, (self._ar[:m] + a) % ACC]
            self.det_done += m
            c0 = time.thread_time()
            found = self.det.process(block)
            self.cpu_dtmf += time.thread_time() - c0
            for ev in found:
                self._detected(ev)
            np.logical_and(self.det.candidates | self._digit_on, self._mute_ok, out=self._mute)

    def _packets(self, p: int, codec: Codec, rows: npt.NDArray[np.intp], sts: list[Stream], start: int,
                 out: list[tuple[Stream, bytes]], now: float, late: int) -> None:
        a = start % ACC
        if a + p <= ACC:
            seg = self.acc[rows, a : a + p]
            idx: Any = slice(a, a + p)
        else:
            idx = (self._ar[:p] + a) % ACC
            seg = self.acc[np.ix_(rows, idx)]
        mute = self._mute[rows]
        if mute.any():
            seg[mute] = 0  # the in-band digit (or a window that may start one) is not sent toward SIP
        codes = g711.ulaw_encode(seg) if codec is Codec.PCMU else g711.alaw_encode(seg)
        tr = self._transparent[rows]
        if tr.any():
            raw = self.acc_codes[rows[tr], a : a + p] if isinstance(idx, slice) else \
                self.acc_codes[np.ix_(rows[tr], idx)]
            if codec.law != self.law:
                raw = g711.ulaw_to_alaw(raw) if self.law == "mulaw" else g711.alaw_to_ulaw(raw)
            codes[tr] = raw
        dsp_ms = (self.clock() - now) * 1000.0
        # the first sample of these packets entered the span `p + late` samples before now
        first_in = now - (p + late) / 8000.0
        cb = codes.tobytes()  # one copy, sliced per call (cheaper than a tobytes per row)
        for i, st in enumerate(sts):
            s = st.spec
            dn = s.direction  # (identity: an enum's == is Python code)
            if dn is Direction.RECVONLY or dn is Direction.INACTIVE or st.send_addr is None:
                st.sender.skip(p)
                continue
            ev = st.events_out
            if ev is not None and ev.active:
                end_ts = st.sender.ts + p
                if st.dtmf_digit is None:
                    pk = ev.stop(end_ts, st.dtmf_duration)
                else:
                    pk = ev.update(end_ts)
                for d in pk:
                    out.append((st, d))
                st.counters.events_tx += len(pk)
                if s.dtmf_mute:
                    st.sender.skip(p)
                    continue
            out.append((st, st.sender.packet(cb[i * p : i * p + p], p)))
            if not st.sender.seq & 3:  # one packet in four, as on the way in
                st.latency.tdm_dsp.add(dsp_ms)
            st.first_in = first_in

    def _mix_tones(self, rin: I16, n: int) -> I16:
        tones = self.gen.process(n)
        rin = rin.copy()
        done = []
        for ch in self._playing:
            rin[ch] = tones[ch]
            st = self.streams[ch]
            if st is not None and st.tone_stop_at is not None and self.samples >= st.tone_stop_at:
                self.gen.reset(ch)
                st.tone_digit = None
                st.tone_stop_at = None
                done.append(ch)
            elif not self.gen.busy[ch]:
                done.append(ch)
        for ch in done:
            self._playing.discard(ch)
        return rin

    def end_digits(self, st: Stream) -> list[bytes]:
        """The call leaves the channel while a digit sounds: the PBX's (in band) or one from
        SIP being played toward the PBX.  Each gets its end event now, marked `cut`, so that
        every digit reaches the call's events with a duration; returned are the RFC 4733 end
        packets (three, RFC 4733 s2.5.1.4) of a PBX digit being sent toward SIP, for the
        caller to send before the call's RTCP BYE.  (`close` calls it; a second call finds
        nothing.)"""
        ch = st.row
        out: list[bytes] = []
        if self.det is not None and self.streams[ch] is st:
            ev = self.det.cut(ch)
            if ev is not None:
                self._detected(ev, cut=True)
        evo = st.events_out
        if evo is not None and evo.active and st.dtmf_digit is None:
            out = evo.stop(st.sender.ts, st.dtmf_duration)
            st.counters.events_tx += len(out)
        if st.tone_digit is not None and st.tone_stop_at is None:
            self.events.append({"event": "dtmf", "call_id": st.spec.call_id, "from": "sip",
                                "digit": st.tone_digit, "phase": "end", "cut": True,
                                "duration_ms": (self.samples - st.tone_started) / 8.0})
            st.tone_digit = None
        return out

    def _detected(self, ev: Any, cut: bool = False) -> None:
        st = self.streams[ev.channel]
        if st is None or not st.spec.dtmf_detect:
            return
        start = ev.kind.value == "start"
        self._digit_on[ev.channel] = start
        if start:
            st.dtmf_digit = ev.digit
            st.dtmf_duration = None
            if st.events_out is not None:
                st.events_out.start(digit_to_event(ev.digit), st.sender.ts)
        else:
            st.dtmf_digit = None
            st.dtmf_duration = None if ev.end is None else int(ev.end - ev.start)
        self.events.append({"event": "dtmf", "call_id": st.spec.call_id, "from": "pbx",
                            "digit": ev.digit, "phase": "start" if start else "end",
                            "duration_ms": ev.duration_ms, "level_dbm0": round(ev.level_dbm0, 1),
                            **({"cut": True} if cut else {})})

    def _rtp_latency(self, cur0: npt.NDArray[np.int64], n: int) -> None:
        """The sampled packets whose first sample this read played (or passed): RTP->TDM."""
        for ch in np.flatnonzero(self._lat_next < cur0 + n).tolist():
            q = self._pending_lat[ch]
            st = self.streams[ch]
            c0 = int(cur0[ch])
            while q and q[0][0] < c0 + n:
                ext, arrival = q.popleft()
                if ext >= c0 and st is not None:
                    total = (self.t_write + (ext - c0) / 8000.0 - arrival) * 1000.0
                    st.latency.rtp_total.add(total)
                    js = self.jb.chans[ch]
                    st.latency.rtp_beyond.add(total - (js.target / 8.0 if js is not None else 0.0))
            if q:
                self._lat_next[ch] = q[0][0]
            else:
                del self._pending_lat[ch]
                self._lat_next[ch] = LAT_NONE

    def sent(self, st: Stream, built: float, sent: float) -> None:
        """The I/O layer reports when a packet of `st` left (for the socket and total hops)."""
        st.counters.tx_packets += 1
        if not st.sender.seq & 3:  # the packets sampled in _packets (one in four)
            st.latency.tdm_socket.add((sent - built) * 1000.0)
            st.latency.tdm_total.add((sent - st.first_in) * 1000.0)

    # ------------------------------------------------------------ timers

    def poll(self, now: float, max_reports: int = 12) -> list[tuple[Stream, bytes, Addr]]:
        """RTCP reports due and RTP timeouts; returns RTCP datagrams to send.

        At most `max_reports` reports per call, the streams taken in turn from where the
        last call stopped: calls opened together have their first reports due together, and
        building them all at once would hold up the span blocks (a report that waits is
        sent at the next poll, 50 ms later in the media process)."""
        out = []
        made = 0
        n = len(self.streams)
        start = self._poll_from
        for j in range(n):
            st = self.streams[(start + j) % n]
            if st is None:
                continue
            r = st.rtcp
            if made < max_reports and now >= r.get_timer():
                made += 1
                if made == max_reports:
                    self._poll_from = (start + j + 1) % n
                r.we_sent = st.sender.packets > 0
                r.packets_sent, r.octets_sent, r.rtp_ts_now = st.sender.packets, st.sender.octets, st.sender.ts
                data = r.handle_timer(now)
                addr = st.rtcp_addr
                if data is not None and addr is not None:
                    if st.srtp is not None:
                        data = st.srtp.protect_rtcp(data)
                    out.append((st, data, addr))
                    st.counters.rtcp_tx += 1
            s = st.spec
            if (not st.timed_out and s.direction in (Direction.SENDRECV, Direction.RECVONLY)
                    and now - st.last_rx > s.rtp_timeout_s):
                st.timed_out = True
                self.events.append({"event": "rtp_timeout", "call_id": s.call_id,
                                    "silent_s": round(now - st.last_rx, 1)})
            if st.events_in.current is not None:
                for ev in st.events_in.poll(self.samples):
                    self._event_in(st, ev)
        return out

    def take_events(self) -> list[Event]:
        ev, self.events = self.events, []
        return ev

    def stream_stats(self, st: Stream) -> dict[str, Any]:
        ch = st.row
        d = st.stats()
        jst = self.jb.stats(ch)
        d["jitter_buffer"] = jst.as_dict() | {"depth_ms": jst.depth / 8.0, "target_ms": jst.target / 8.0}
        lat = st.latency
        d["latency_ms"] = {
            "tdm_to_rtp": {
                "span_buffer": self.block / 8.0, "packetisation": st.spec.ptime / 8.0,
                "dsp": lat.tdm_dsp.summary(), "socket": lat.tdm_socket.summary(),
                "total": lat.tdm_total.summary(),
            },
            "rtp_to_tdm": {
                "socket": lat.rtp_socket.summary(), "jitter_buffer": lat.rtp_jitter.summary(),
                "span_buffer": self.block / 8.0, "total": lat.rtp_total.summary(),
                "beyond_target": lat.rtp_beyond.summary(),
            },
        }
        if self.ec is not None:
            ec, i = self._ec_of(ch)
            m = ec.metrics(i)
            d["echo"] = {"erl_db": round(m.erl_db, 1), "erle_db": round(m.erle_db, 1),
                         "converged": m.converged, "double_talk": m.double_talk, "enabled": m.enabled,
                         "model_resets": m.model_resets}
        return d
