"""baresip (Debian's) as the voice AI, audio checked end to end both ways: a PBX call is
answered by baresip (auto-answer), baresip's own tone (aufile, 600 Hz) reaches the PBX's
B-channel, and the PBX's tone (1004 Hz, -10 dBm0) reaches baresip, which records what
it decoded (sndfile).  Loopback only, baresip configured from the test's directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from appliance.demo.pbx import analyse_steady
from tests.peers.baresip_peer import Baresip, read_wav, write_tone

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer
SENT_DBM0 = -12.0 + 3.14  # aufile's sine at -12 dBFS peak, in dBm0 (G.711 Table 5)


def _steady(x: np.ndarray, n: int = 8000) -> tuple[float, float]:
    """(frequency, level) of the loudest n-sample window (the call's steady part), as the
    median over 125 ms frames."""
    if len(x) < n:
        return analyse_steady(x)
    best = max(range(0, len(x) - n + 1, n // 4), key=lambda i: float(np.sum(x[i:i + n] ** 2)))
    return analyse_steady(x[best:best + n])


def test_baresip_answers_and_tones_cross_both_ways(tmp_path: Path) -> None:
    async def body() -> tuple[Rig, tuple[float, float], list[Path], str]:
        wav = write_tone(tmp_path / "tone.wav", 600, -12, 10)
        bs = Baresip(tmp_path / "baresip", wav)
        out = ""
        try:
            async with Rig(tmp_path, bs.address) as rig:
                call = rig.pbx.place_call("2001", caller="5551234")
                await wait_for(lambda: call.state == "answered", 15, "baresip answered")
                assert call.channel is not None
                await asyncio.sleep(2.0)
                heard = rig.pbx.measure(call.channel, 4000)
                rig.pbx.hangup(call, 16)
                await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
        finally:
            out = bs.stop()
        return rig, heard, bs.recordings(), out
    rig, (freq, level), recs, out = asyncio.run(body())
    assert "Call with sip:5551234@127.0.0.1 terminated" in out, out[-2000:]
    # baresip -> PBX: its 600 Hz (sent at -8.9 dBm0), the median over 125 ms frames of the
    # last 0.5 s (a block the virtual span slips, or a packet concealed, on a loaded machine
    # spoils a frame, not the figure; the ringback is 440/480, the PBX's own tone 1004)
    assert abs(freq - 600) < 5, (freq, level)
    assert abs(level - SENT_DBM0) < 1.5, (freq, level)
    # PBX -> baresip: the 1004 Hz -10 dBm0 tone in what baresip decoded
    dec = [p for p in recs if p.name.endswith("-dec.wav")]
    assert dec, recs
    f2, l2 = _steady(read_wav(dec[0]))
    assert abs(f2 - 1004) < 5, (f2, l2)
    assert abs(l2 + 10) < 1.5, (f2, l2)
    print(f"baresip -> PBX {freq:.0f} Hz {level:.1f} dBm0; PBX -> baresip {f2:.0f} Hz {l2:.1f}")
    assert rig.tap.first("DISCONNECT", "from_pbx").cause == 16
