"""The span engine on simulated time: echo removed before RTP, DTMF both ways, CN, law, safety."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.media import cn as cnmod
from appliance.media import dtmf_events as de
from appliance.media import rtp, srtp
from appliance.media.engine import SpanEngine
from appliance.media.stream import Codec, Stream, StreamSpec
from dsp import g711
from dsp.dtmf import DtmfDetector, dtmf_tone
from tests.appliance.media.farends import level_and_freq, tone
from tests.dsp.g168.models import model
from tests.dsp.g168.signals import css

PEER = ("192.0.2.10", 4000)
B = 40  # 5 ms span blocks


class Harness:
    """One engine, one call on channel 0, a SIP-side peer and a PBX side made of functions."""

    def __init__(self, *, echo: bool = True, law: str = "mulaw", row: int = 0, **spec: object) -> None:
        self.now = 0.0
        self.row = row
        self.e = SpanEngine("s", max(2, row + 1), law, B, echo=echo, clock=lambda: self.now)
        kw: dict[str, object] = {"remote": PEER, **spec}
        self.st = Stream(StreamSpec("c", "s", row, **kw), 0.0)  # type: ignore[arg-type]
        self.e.open(self.st)
        self.peer = rtp.RtpSender(self.st.spec.payload_type, ssrc=77)
        self.law = law
        self.tx: list[np.ndarray] = []  # toward the PBX, linear
        self.out: list[rtp.RtpPacket] = []  # toward SIP
        self.k = 0

    def _dec(self, codes: np.ndarray) -> np.ndarray:
        return (g711.ulaw_decode(codes) if self.law == "mulaw" else g711.alaw_decode(codes)).astype(float)

    def _enc(self, x: np.ndarray) -> np.ndarray:
        x16 = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
        return g711.ulaw_encode(x16) if self.law == "mulaw" else g711.alaw_encode(x16)

    def run(self, blocks: int, pbx: Callable[[int, np.ndarray], np.ndarray],
            sip: Callable[[int], list[bytes]] | None = None, addr: tuple[str, int] = PEER) -> None:
        for _ in range(blocks):
            k = self.k
            self.now = k * B / 8000.0
            if sip is not None and k % 4 == 0:  # every 20 ms
                for d in sip(k // 4):
                    self.e.receive_rtp(self.st, d, addr, self.now)
            prev = np.concatenate(self.tx[-64:]) if self.tx else np.zeros(0)
            rx = np.full((self.e.channels, B), 0xFF if self.law == "mulaw" else 0xD5, np.uint8)
            rx[self.row] = self._enc(pbx(k, prev))
            written: list[np.ndarray] = []
            for _s, d in self.e.tick(rx, self.now, written.append):
                self.out.append(rtp.decode(d))
            self.e.after_send()
            self.tx.append(self._dec(written[0][self.row]))
            self.k += 1

    def audio_out(self) -> np.ndarray:
        pts = [p for p in self.out if p.payload_type == self.st.spec.payload_type]
        return np.concatenate([self._dec(np.frombuffer(p.payload, np.uint8)) for p in pts])

    def tx_all(self) -> np.ndarray:
        return np.concatenate(self.tx)


def test_far_end_speech_echo_removed_before_rtp_g168_d2() -> None:
    """SIP-side speech, echoed by a simulated hybrid (G.168 Annex D.2 path, 1 block of span delay)."""
    h = model("d2") * 10 ** (-6 / 20) / np.sqrt(np.sum(model("d2") ** 2))  # ERL about 6 dB
    speech = css(12.0, level_dbm0=-15.0)
    results = {}
    for echo in (False, True):
        hs = Harness(echo=echo, dtmf_detect=False)

        def sip(i: int, s: Harness = hs) -> list[bytes]:
            return [s.peer.packet(s._enc(speech[i * 160 : (i + 1) * 160]).tobytes(), 160)]

        def hybrid(k: int, prev: np.ndarray) -> np.ndarray:
            # what the PBX sends back in block k: the echo of what we wrote up to block k-1
            if len(prev) < B:
                return np.zeros(B)
            y = np.convolve(prev, h)[len(prev) - B : len(prev)]
            return y + np.random.default_rng(k).standard_normal(B) * 3  # line noise, about -75 dBm0

        hs.run(12 * 200, hybrid, sip)
        results[echo] = hs.audio_out()
        if echo:  # the call's echo figures in its stats
            ec_stats = hs.e.stream_stats(hs.st)["echo"]
            assert ec_stats["converged"] and ec_stats["model_resets"] == 0
            assert 4.0 < ec_stats["erl_db"] < 8.0
    tail = slice(8 * 8000, 11 * 8000)
    raw_db, _ = level_and_freq(results[False][tail])
    ec_db, _ = level_and_freq(results[True][tail])
    assert raw_db > -30  # the echo is there without the canceller
    assert raw_db - ec_db >= 30  # and 30 dB or more below it with the canceller (NLP on)


def test_far_end_echo_removed_through_packet_loss() -> None:
    """20 % of the far end's packets lost: what the PBX's hybrid echoes back is then partly the
    concealment (G.711 Appendix I repeats pitch periods: a line spectrum that changes at each
    loss, the input that made the background model diverge before its guard).  The echo of
    the concealed Rin is cancelled as well as speech's: 30 dB or more, no model cleared."""
    from tests.dsp.g168.signals import talker

    h = model("d2") * 10 ** (-6 / 20) / np.sqrt(np.sum(model("d2") ** 2))
    speech = talker(12.0, -15.0)
    results = {}
    for echo in (False, True):
        hs = Harness(echo=echo, dtmf_detect=False)
        lost = np.random.default_rng(5).random(12 * 50) < 0.2

        def sip(i: int, s: Harness = hs, lost: np.ndarray = lost) -> list[bytes]:
            pk = s.peer.packet(s._enc(speech[i * 160 : (i + 1) * 160]).tobytes(), 160)
            return [] if lost[i] else [pk]

        def hybrid(k: int, prev: np.ndarray) -> np.ndarray:
            if len(prev) < B:
                return np.zeros(B)
            y = np.convolve(prev, h)[len(prev) - B : len(prev)]
            return y + np.random.default_rng(k).standard_normal(B) * 3

        hs.run(12 * 200, hybrid, sip)
        results[echo] = hs.audio_out()
        if echo:
            assert hs.e.jb.stats(0).concealed > 8000  # the loss was concealed toward the PBX
            assert hs.e.stream_stats(hs.st)["echo"]["model_resets"] == 0
    tail = slice(8 * 8000, 11 * 8000)
    raw_db, _ = level_and_freq(results[False][tail])
    ec_db, _ = level_and_freq(results[True][tail])
    assert raw_db > -30
    assert raw_db - ec_db >= 30


def test_inband_dtmf_from_pbx_becomes_rfc4733_and_is_muted() -> None:
    hs = Harness()
    digit = np.concatenate([np.zeros(2400), dtmf_tone("5", 960, -10.0), np.zeros(4000)])
    hs.run(len(digit) // B, lambda k, prev: digit[k * B : (k + 1) * B])
    evs = [p for p in hs.out if p.payload_type == 101]
    assert evs, "no telephone-event packets"
    blocks = [de.decode(p.payload)[0] for p in evs]
    assert evs[0].marker and {b.event for b in blocks} == {5}
    assert len({p.timestamp for p in evs}) == 1  # one event, one timestamp
    assert [b.end for b in blocks][-3:] == [True] * 3 and not any(b.end for b in blocks[:-3])
    assert 80 * 8 <= blocks[-1].duration <= 140 * 8  # 120 ms of tone, detected a little late
    # the tone itself does not go out as audio while the event is sent
    audio_ts = [p.timestamp for p in hs.out if p.payload_type == 0]
    assert not any(evs[0].timestamp <= t < evs[0].timestamp + blocks[-1].duration for t in audio_ts)
    seqs = [p.sequence for p in hs.out]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # one sequence space
    got = [e for e in hs.e.take_events() if e["event"] == "dtmf"]
    assert [(e["from"], e["digit"], e["phase"]) for e in got] == [("pbx", "5", "start"), ("pbx", "5", "end")]


def test_rfc4733_from_sip_is_played_inband_toward_pbx() -> None:
    hs = Harness()
    tx_ev = de.EventSender(hs.peer, 101)

    def sip(i: int) -> list[bytes]:
        if i == 10:
            tx_ev.start(7, hs.peer.ts)
        if 10 <= i < 16:
            out = tx_ev.update(hs.peer.ts + 160)
            hs.peer.skip(160)
            return out
        if i == 16:
            out = tx_ev.stop(hs.peer.ts)
            return out
        return [hs.peer.packet(bytes([0xFF]) * 160, 160)]

    hs.run(400, lambda k, prev: np.zeros(B), sip)
    det = DtmfDetector(1)
    tx = hs.tx_all().astype(np.int16)[None, :]
    found = det.process(tx)
    ends = [e for e in found if e.end is not None]
    assert [e.digit for e in ends] == ["7"]
    assert 100 <= (ends[0].duration_ms or 0) <= 160
    lvl, _ = level_and_freq(hs.tx_all()[ends[0].start + 80 : ends[0].start + 480])
    assert -12 < lvl < -5  # Q.23 level, two tones
    got = [(e["from"], e["digit"], e["phase"]) for e in hs.e.take_events() if e["event"] == "dtmf"]
    assert got == [("sip", "7", "start"), ("sip", "7", "end")]


def test_a_call_closed_while_digits_sound_reports_each_digits_end() -> None:
    """The call is cleared (or moved) while the PBX's '5' still sounds and while SIP's '9' is
    played toward the PBX, neither end having come: each digit's end event comes with the
    close, marked cut, with the duration heard so far.  Before, a digit cut by the call's
    end never reached the call's events (CTI saw no call.dtmf for it).  The canceller is on
    and the two digits sound at once (dsp.echo: the caller's first block is not learnt)."""
    hs = Harness()
    tx_ev = de.EventSender(hs.peer, 101)

    def sip(i: int) -> list[bytes]:
        if i == 5:
            tx_ev.start(9, hs.peer.ts)
        if i >= 5:
            out = tx_ev.update(hs.peer.ts + 160)
            hs.peer.skip(160)
            return out
        return [hs.peer.packet(bytes([0xFF]) * 160, 160)]

    tone_in = np.concatenate([np.zeros(2400), dtmf_tone("5", 8000, -10.0)])
    hs.run(len(tone_in) // B // 2, lambda k, prev: tone_in[k * B : (k + 1) * B], sip)
    got = [e for e in hs.e.take_events() if e["event"] == "dtmf"]
    assert [(e["from"], e["phase"]) for e in got] == [("sip", "start"), ("pbx", "start")]
    assert hs.e.close(0) is hs.st
    ends = [e for e in hs.e.take_events() if e["event"] == "dtmf"]
    assert sorted((e["from"], e["digit"], e["phase"], e["cut"]) for e in ends) == [
        ("pbx", "5", "end", True), ("sip", "9", "end", True)]
    by = {e["from"]: e["duration_ms"] for e in ends}
    assert 320 <= by["pbx"] <= 350  # 350 ms of tone sounded before the close
    assert 530 <= by["sip"] <= 560  # SIP's event began 100 ms into the 650 ms run
    # a channel reopened afterwards starts clean: silence reports nothing
    st2 = Stream(StreamSpec("c2", "s", 0, remote=PEER), hs.now)
    hs.e.open(st2)
    assert hs.e.close(0) is st2
    assert not [e for e in hs.e.take_events() if e["event"] == "dtmf"]


def test_comfort_noise_from_sip_fills_the_gap() -> None:
    hs = Harness(echo=False)

    def sip(i: int) -> list[bytes]:
        if i < 10:
            return [hs.peer.packet(bytes([0xFF]) * 160, 160)]
        if i == 10:
            return [hs.peer.event_packet(13, hs.peer.ts, cnmod.encode(cnmod.ComfortNoise(40)), False)]
        return []  # DTX: nothing more

    hs.run(300, lambda k, prev: np.zeros(B), sip)
    lvl, _ = level_and_freq(hs.tx_all()[8000:])
    dbov = lvl + 20 * np.log10(16020.7 / 32124.0)
    assert dbov == pytest.approx(-40, abs=1.5)
    assert hs.st.counters.cn_rx == 1 and hs.e.jb.stats(0).concealed == 0


def test_comfort_noise_rows_among_lossy_rows_count_apart() -> None:
    """Two rows fed the same packets, one of which also gets comfort noise for the first
    gap: that row's gap is noise, the other's concealment, sample for sample; after the
    noise ends (audio again) a second gap is concealment on both."""
    now = 0.0
    e = SpanEngine("s", 4, "mulaw", B, echo=False, clock=lambda: now)
    sts = [Stream(StreamSpec(f"c{r}", "s", r, remote=PEER), 0.0) for r in (0, 1)]  # type: ignore[arg-type]
    for s_ in sts:
        e.open(s_)
    peers = [rtp.RtpSender(0, ssrc=10 + r) for r in (0, 1)]
    idle = np.full((4, B), 0xFF, np.uint8)
    for k in range(4 * 120):
        now = k * B / 8000.0
        i = k // 4
        if k % 4 == 0 and (i < 10 or 50 <= i < 80):
            for s_, p in zip(sts, peers, strict=True):
                e.receive_rtp(s_, p.packet(bytes([0x80 + i % 64]) * 160, 160), PEER, now)
        elif k % 4 == 0:
            for p in peers:
                p.skip(160)
            if i == 10:
                cn = cnmod.encode(cnmod.ComfortNoise(40))
                e.receive_rtp(sts[0], peers[0].event_packet(13, peers[0].ts, cn, False), PEER, now)
        e.tick(idle, now, lambda tx: None)
        e.after_send()
        assert e._cn_on[0] == sts[0].cn_active and not e._cn_on[1:].any()
    j0, j1 = e.jb.stats(0), e.jb.stats(1)
    assert j0.comfort_noise > 0 and j0.concealed > 0 and j1.comfort_noise == 0
    assert j0.comfort_noise + j0.concealed == j1.concealed
    assert sts[0].counters.cn_rx == 1


def test_pcma_call_on_mulaw_span_converts_once() -> None:
    hs = Harness(codec=Codec.PCMA, payload_type=8, echo=False)
    hs.peer = rtp.RtpSender(8, ssrc=5)
    t = tone(160 * 200, 0, 1000.0, -10.0)

    def sip(i: int) -> list[bytes]:
        return [hs.peer.packet(g711.alaw_encode(np.rint(t[i * 160 : (i + 1) * 160]).astype(np.int16)).tobytes(), 160)]

    hs.run(600, lambda k, prev: tone(B, k * B, 1500.0, -10.0), sip)
    pts = [p for p in hs.out if p.payload_type == 8]
    a = np.concatenate([g711.alaw_decode(np.frombuffer(p.payload, np.uint8)) for p in pts]).astype(float)
    lvl, f = level_and_freq(a[1600:])
    assert f == pytest.approx(1500, abs=2) and lvl == pytest.approx(-10, abs=0.3)
    lvl, f = level_and_freq(hs.tx_all()[8000:])
    assert f == pytest.approx(1000, abs=2) and lvl == pytest.approx(-10, abs=0.3)


def test_transparent_same_law_is_bit_exact() -> None:
    hs = Harness(echo_canceller=False, dtmf_detect=False)
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, size=(400 * B,), dtype=np.uint8)
    codes[codes == 0x7F] = 0xFF
    sent: list[np.ndarray] = []

    def pbx(k: int, prev: np.ndarray) -> np.ndarray:
        c = codes[k * B : (k + 1) * B]
        sent.append(c)
        return g711.ulaw_decode(c).astype(float)

    hs.run(400, pbx)
    got = np.concatenate([np.frombuffer(p.payload, np.uint8) for p in hs.out])
    assert np.array_equal(got, np.concatenate(sent)[: len(got)])


def test_wrong_address_dropped_latching_and_payload_types() -> None:
    hs = Harness(remote=None)
    hs.run(4, lambda k, prev: np.zeros(B))
    nat = ("198.51.100.7", 31000)
    hs.e.receive_rtp(hs.st, b"\x80\x00", nat, 0.0)  # malformed: no latch
    hs.e.receive_rtp(hs.st, hs.peer.event_packet(96, 0, b"x", False), nat, 0.0)  # not negotiated
    assert hs.st.latched is None
    hs.e.receive_rtp(hs.st, hs.peer.packet(bytes(160), 160), nat, 0.0)  # valid: latch (NAT)
    assert hs.st.latched == nat and hs.st.send_addr == nat
    hs.e.receive_rtp(hs.st, hs.peer.packet(bytes(160), 160), ("203.0.113.66", 31000), 0.0)
    c = hs.st.counters
    assert (c.dropped_malformed, c.dropped_payload_type, c.dropped_address, c.rx_packets) == (1, 1, 1, 1)
    assert any(e["event"] == "latched" for e in hs.e.take_events())


def test_no_latching_accepts_only_the_negotiated_address() -> None:
    hs = Harness(latch=False)
    hs.e.receive_rtp(hs.st, hs.peer.packet(bytes(160), 160), ("192.0.2.10", 4002), 0.0)
    assert hs.st.counters.dropped_address == 1 and hs.st.latched is None
    hs.e.receive_rtp(hs.st, hs.peer.packet(bytes(160), 160), PEER, 0.0)
    assert hs.st.latched == PEER


def test_srtp_in_the_path() -> None:
    ours, theirs = srtp.generate(1), srtp.generate(1)
    hs = Harness(srtp_local=str(ours), srtp_remote=str(theirs), echo=False)
    far = srtp.SrtpContext(theirs, ours)
    t = tone(160 * 100, 0, 800.0, -10.0)

    def sip(i: int) -> list[bytes]:
        p = hs.peer.packet(g711.ulaw_encode(np.rint(t[i * 160 : (i + 1) * 160]).astype(np.int16)).tobytes(), 160)
        return [far.protect(p), p]  # the clear one is dropped

    hs.run(300, lambda k, prev: np.zeros(B), sip)
    assert hs.st.counters.dropped_srtp >= 70
    lvl, f = level_and_freq(hs.tx_all()[4000:12000])
    assert f == pytest.approx(800, abs=2) and lvl == pytest.approx(-10, abs=0.5)


def test_local_ringback_toward_pbx_replaces_rtp_until_stopped() -> None:
    hs = Harness(echo=False)
    hs.e.set_tone(hs.st.row, "ringback")
    hs.run(400, lambda k, prev: np.zeros(B))  # 2 s: US ringback 440 + 480 Hz, 2 s on
    x = hs.tx_all()
    lvl, _ = level_and_freq(x[800:8000])
    spec = np.abs(np.fft.rfft(x[800:8000]))
    f = np.fft.rfftfreq(7200, 1 / 8000)
    top = sorted(f[np.argsort(spec)[-2:]])
    assert top == pytest.approx([440, 480], abs=3) and -25 < lvl < -10
    hs.e.set_tone(hs.st.row, None)
    hs.run(40, lambda k, prev: np.zeros(B))
    assert not hs.tx_all()[-800:].any()


@settings(max_examples=100)
@given(st.lists(st.binary(max_size=200), max_size=20))
def test_fuzz_datagrams_never_raise(datagrams: list[bytes]) -> None:
    """Whatever arrives on an RTP or RTCP socket is dropped and counted, never raised."""
    hs = _FUZZ
    for d in datagrams:
        hs.e.receive_rtp(hs.st, b"\x80" + d, PEER, 0.0)
        hs.e.receive_rtp(hs.st, d, PEER, 0.0)
        hs.e.receive_rtcp(hs.st, d, (PEER[0], PEER[1] + 1), 0.0)
    written: list[np.ndarray] = []
    hs.e.tick(np.full((2, B), 0xFF, np.uint8), 0.0, written.append)
    assert written[0].shape == (2, B)


_FUZZ = Harness(echo=False)


def test_phase_groups_spread_the_packets_and_the_canceller() -> None:
    """Rows are split into 4 phase groups of consecutive rows, one canceller each: a group's
    20 ms packets end one 5 ms block after the previous group's, so each block sends a quarter
    of the calls."""
    e = SpanEngine("s", 8, "mulaw", B, clock=lambda: 0.0, phases=4)
    assert e.phases == 4 and len(e.ecs) == 4 and [r.stop - r.start for r in e.ph_rows] == [2, 2, 2, 2]
    assert [e.phase_of(r) for r in range(8)] == [0, 0, 1, 1, 2, 2, 3, 3]
    for r in range(8):
        e.open(Stream(StreamSpec(f"c{r}", "s", r, remote=PEER), 0.0))
    rx = np.full((8, B), 0xFF, np.uint8)
    per_block = []
    for k in range(12):
        out = e.tick(rx, k * B / 8000.0, lambda tx: None)
        e.after_send()
        per_block.append(sorted(s.row for s, _d in out))
    # group k's first packet ends at sample 160 + 40 k (rows 2k and 2k + 1)
    assert per_block[3] == [0, 1] and per_block[4] == [2, 3] and per_block[5] == [4, 5]
    assert per_block[6] == [6, 7] and per_block[7] == [0, 1]
    assert e.ec_done == [480, 360, 400, 440]  # each canceller stops where its last packet ended
    # ... and at the end of one of its 160-sample transform blocks (no partial block paid)
    assert [ec._filter._pos for ec in e.ecs] == [0, 0, 0, 0]
    assert all(len(set(p)) == len(p) for p in per_block)


def test_the_cancellers_adaptation_and_dtmf_wait_for_a_block_after_the_packets() -> None:
    """A group's canceller filters before its packets and leaves the block's adaptation pending
    (EchoCanceller.process(defer=True)); the packets' block does not make it (nor run the DTMF
    detector), the next block's after_send() does, before the group's canceller runs again."""
    e = SpanEngine("s", 4, "mulaw", B, clock=lambda: 0.0, phases=2)
    for r in range(4):
        e.open(Stream(StreamSpec(f"c{r}", "s", r, remote=PEER), 0.0))
    rx = np.full((4, B), 0xFF, np.uint8)
    seen = []
    for k in range(10):
        out = e.tick(rx, k * B / 8000.0, lambda tx: None)
        before = [ec._filter._post_ef is not None for ec in e.ecs]
        det0 = e.det_done
        e.after_send()
        after = [ec._filter._post_ef is not None for ec in e.ecs]
        seen.append((sorted({st.row // 2 for st, _d in out}), before, after, e.det_done > det0))
    # group 0's packets end at 160, 320 (blocks 3, 7), group 1's at 200, 360 (blocks 4, 8)
    assert seen[3] == ([0], [True, False], [True, False], False)
    assert seen[4] == ([1], [True, True], [False, True], False)  # group 0 finished here
    assert seen[5] == ([], [False, True], [False, False], True)  # group 1 here; DTMF 0..160
    assert seen[7] == ([0], [True, False], [True, False], False)
    assert seen[8] == ([1], [True, True], [False, True], False)
    assert seen[9] == ([], [False, True], [False, False], True)


def test_default_phase_groups_have_enough_rows_for_the_canceller() -> None:
    """By default a phase group has at least EC_GROUP_MIN rows (the canceller's fixed cost per
    call is paid once per group), and there are at most EC_GROUPS_MAX groups."""
    from appliance.media.engine import EC_GROUP_MIN, EC_GROUPS_MAX

    sizes = {c: [r.stop - r.start for r in SpanEngine("s", c, "alaw", B, echo=False).ph_rows]
             for c in (2, 30, 119, 120, 240, 480)}
    assert sizes == {2: [2], 30: [30], 119: [119], 120: [60, 60], 240: [120, 120],
                     480: [240, 240]}
    assert all(min(v) >= min(c, EC_GROUP_MIN) for c, v in sizes.items() if len(v) > 1)
    assert all(len(v) <= EC_GROUPS_MAX for v in sizes.values())


@pytest.mark.parametrize(("ptime", "row"), [(10, 0), (20, 0), (30, 0), (20, 1), (10, 3), (30, 6)])
def test_echo_removed_and_no_sample_delayed_by_the_canceller(ptime: int, row: int) -> None:
    """Per-packet cancelling removes the echo at every ptime; Rin toward the PBX is the same
    sample for sample, in the same blocks, with the canceller on or off; and each packet leaves
    in the block that completes it, carrying that block's samples (no added TDM->RTP delay)."""
    h = model("d2") * 10 ** (-6 / 20) / np.sqrt(np.sum(model("d2") ** 2))
    speech = css(8.0, level_dbm0=-15.0)
    p = ptime * 8
    runs: dict[bool, Harness] = {}
    for echo in (False, True):
        hs = Harness(echo=echo, dtmf_detect=False, ptime_ms=ptime, row=row)
        hs.peer = rtp.RtpSender(hs.st.spec.payload_type, ssrc=77)
        sent_at: list[int] = []  # the block index in which each RTP packet left

        nsent = [0]

        def sip(i: int, s: Harness = hs, nsent: list[int] = nsent) -> list[bytes]:  # every 4 blocks
            out = []
            while (nsent[0] + 1) * p <= (i + 1) * 160:  # the packets whose speech is out by now
                a = nsent[0] * p
                out.append(s.peer.packet(s._enc(speech[a : a + p]).tobytes(), p))
                nsent[0] += 1
            return out

        def hybrid(k: int, prev: np.ndarray) -> np.ndarray:
            if len(prev) < B:
                return np.zeros(B)
            y = np.convolve(prev, h)[len(prev) - B : len(prev)]
            return y + np.random.default_rng(k).standard_normal(B) * 3

        for _ in range(8 * 200):
            n0 = len(hs.out)
            hs.run(1, hybrid, sip)
            sent_at += [hs.k - 1] * (len(hs.out) - n0)
        runs[echo] = hs
        # a packet of p samples leaves in the block holding its last sample; the row's phase
        # group shifts its packet ends by `phase * B` samples (the first packet is a short one)
        o = hs.e.phase_of(row) * B % p
        ends = [(i + 1) * p + o - (p if o else 0) for i in range(len(sent_at))]
        assert sent_at == [(e_ - 1) // B for e_ in ends]
    off, on = runs[False], runs[True]
    assert np.array_equal(off.tx_all(), on.tx_all())  # Rin: same samples, same blocks
    tail = slice(5 * 8000, 7 * 8000)
    raw_db, _ = level_and_freq(off.audio_out()[tail])
    ec_db, _ = level_and_freq(on.audio_out()[tail])
    assert raw_db > -30
    assert raw_db - ec_db >= 30


def test_packet_carries_the_block_that_completes_it() -> None:
    """A burst in the last block of a packet interval is in the packet sent at that very block."""
    hs = Harness(echo=True, dtmf_detect=False)
    burst = tone(B, 0, 1000.0, -10.0)
    got: dict[int, np.ndarray] = {}

    def pbx(k: int, prev: np.ndarray) -> np.ndarray:
        return burst if k == 43 else np.zeros(B)  # block 43 ends the 11th 20 ms packet

    for _ in range(48):
        n0 = len(hs.out)
        hs.run(1, pbx)
        for pk in hs.out[n0:]:
            got[hs.k - 1] = hs._dec(np.frombuffer(pk.payload, np.uint8))
    assert sorted(got) == [4 * i + 3 for i in range(12)]
    pkt = got[43]
    assert np.sqrt(np.mean(pkt[-B:] ** 2)) > 300  # the burst, not yet one block later
    assert np.sqrt(np.mean(pkt[:-B] ** 2)) < 30
    assert np.sqrt(np.mean(got[39] ** 2)) < 30


def _stalled_run(stall: bool) -> tuple[int, int]:
    """A perfect network (a packet every 20 ms on the dot) and an engine whose process
    stalls once for 40 ms, then catches up block after block, as the media process does.
    Returns the jitter buffer's (target, spread) at the end."""
    now = [0.0]
    e = SpanEngine("s", 2, "mulaw", B, echo=False, clock=lambda: now[0])
    st = Stream(StreamSpec("c", "s", 0, remote=PEER, ptime_ms=20), 0.0)
    e.open(st)
    peer = rtp.RtpSender(0, ssrc=5)
    pay = g711.ulaw_encode(np.rint(tone(160, 0, 1000.0, -20.0)).astype(np.int16))
    sent: list[tuple[float, bytes]] = []  # in flight or waiting in the socket
    made = 0
    rx = np.full((2, B), 0xFF, np.uint8)
    late_blocks = range(200, 208) if stall else range(0)
    for k in range(400):
        ideal = k * B / 8000.0
        while made * 0.02 <= ideal:  # the far end's packets, on time
            sent.append((made * 0.02 + 0.001, peer.packet(pay.tobytes(), 160)))
            made += 1
        # the stalled blocks all run at the end of the stall, one after the other
        now[0] = late_blocks[-1] * B / 8000.0 + 0.0001 * (k - late_blocks[0]) if k in late_blocks else ideal
        e.tick_rtp(rx, now[0])
        due = [(t, d) for t, d in sent if t <= now[0]]
        del sent[: len(due)]
        e.receive_batch([(st, d, PEER, t) for t, d in due])
        e.tick_pbx(B, lambda tx: None)
    js = e.jb.chans[0]
    assert js is not None
    return js.stats.target, js.stats.spread


def test_a_stall_of_the_media_process_is_not_taken_for_network_jitter() -> None:
    """The jitter buffer measures each packet against the span's ideal timeline: packets
    that waited in the socket while this process stalled are not "late" or "early"
    network jitter, and the delay it holds does not grow for them (SpanEngine._ideal)."""
    calm = _stalled_run(False)
    stalled = _stalled_run(True)
    assert calm[1] <= B and stalled[1] <= B, (calm, stalled)
    assert stalled[0] == calm[0], (calm, stalled)


def test_rtp_to_tdm_beyond_the_target_uses_the_target_of_its_moment() -> None:
    """Each RTP->TDM sample is also kept less the jitter buffer's target when its sample went
    out (`rtp_beyond`): steady, that is total - target; after a jitter spike raised the
    target, the samples from before it keep the old target (against the final target the
    earlier ones would read as negative excess, a decaying hold's later ones as positive)."""
    h = Harness(echo=False, jitter_min_ms=20)
    payload = bytes([0xFF]) * 160
    h.run(40 * 4, lambda k, prev: np.zeros(B), lambda i: [h.peer.packet(payload, 160)])
    raw = h.st.latency.raw()
    total, beyond = np.array(raw["rtp_total"]), np.array(raw["rtp_beyond"])
    assert len(total) >= 5 and len(beyond) == len(total)
    assert np.allclose(beyond, total - 20.0, atol=0.01)  # steady: target 20 ms
    js = h.e.jb.chans[h.row]
    assert js is not None
    js.target = 480  # a spike's hold: 60 ms (as _adapt sets it after jitter), then more samples
    h.run(16, lambda k, prev: np.zeros(B), lambda i: [h.peer.packet(payload, 160)])
    raw2 = h.st.latency.raw()
    t2, b2 = np.array(raw2["rtp_total"]), np.array(raw2["rtp_beyond"])
    assert np.allclose(b2[: len(total)], beyond)  # the earlier samples keep their own target
    assert len(t2) > len(total)
    assert h.e.stream_stats(h.st)["latency_ms"]["rtp_to_tdm"]["beyond_target"]["p50"] == pytest.approx(
        float(np.median(b2)), abs=0.01)
