"""pjsua2 (pjmedia's RTP stack, which no one here wrote) as the far end of a call's RTP.

pjsua2 places a SIP call to sipp, whose scripted answer points the SDP at our
media port; pjsua2's RTP then reaches our stream, which latches onto it
(symmetric RTP) and answers.  A tone into our B-channel must arrive in what
pjsua2 records at the right frequency and level, and pjsua2's tone must come
out of our span toward the PBX.
"""

from __future__ import annotations

import asyncio
import json
import queue
import shutil
import socket
import subprocess
import sys
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.media.process import MediaServer
from appliance.media.stream import StreamSpec
from tests.appliance.media.farends import ToneFarEnd, robust_level_and_freq
from tests.appliance.media.test_process import span_params

pytest.importorskip("pjsua2")
pytestmark = [pytest.mark.peer, pytest.mark.skipif(shutil.which("sipp") is None, reason="no sipp")]

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer with tdmgw media">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:127.0.0.1:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio MEDIAPORT RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
</scenario>
"""


def _free_port(kind: int) -> int:
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = int(s.getsockname()[1])
    s.close()
    return p


def test_pjsua2_as_rtp_peer(tmp_path: Path) -> None:
    media_port = _free_port(socket.SOCK_DGRAM) & ~1
    sip_port = _free_port(socket.SOCK_DGRAM)
    far = ToneFarEnd(span_params(), freqs=(1000.0, 0.0), dbm0=-10.0)
    q: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()

    def media() -> None:
        async def main() -> None:
            p = span_params()
            far.p = p
            srv = MediaServer([(p, {"clock": True, "far_end_obj": far})], host="127.0.0.1",
                              port_min=media_port, port_max=media_port + 2)
            task = asyncio.get_running_loop().create_task(srv.serve(str(tmp_path / "m.sock")))
            await asyncio.sleep(0.2)
            srv._open(StreamSpec("pj", "s1", 0, remote=None, latch=True, local_host="127.0.0.1",
                                 local_port=media_port, echo_canceller=False))
            q.put(srv)
            while not stop.is_set():
                await asyncio.sleep(0.05)
            q.put(srv.calls["pj"].engine.stream_stats(srv.calls["pj"].stream))
            srv.stop()
            await task

        asyncio.run(main())

    th = threading.Thread(target=media, daemon=True)
    th.start()
    q.get(timeout=20)
    (tmp_path / "uas.xml").write_text(SCENARIO.replace("MEDIAPORT", str(media_port)))
    sipp = subprocess.Popen(["sipp", "-sf", str(tmp_path / "uas.xml"), "-i", "127.0.0.1", "-p", str(sip_port),
                             "-m", "1", "-nostdin", "-timeout", "30s"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wav = str(tmp_path / "rx.wav")
    try:
        r = subprocess.run([sys.executable, "-m", "tests.appliance.media.pjsua2_peer",
                            f"sip:gw@127.0.0.1:{sip_port}", wav, "4", "1200"],
                           capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[3])
    finally:
        stop.set()
        stats = q.get(timeout=20)
        th.join(10)
        sipp.wait(10)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["media_up"]
    assert stats["latched"] is not None and stats["counters"]["rx_packets"] > 100
    assert stats["counters"]["dropped_address"] == 0
    with wave.open(wav) as w:
        assert w.getframerate() in (8000, 16000)
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)
        rate = w.getframerate()
    if rate != 8000:
        x = x[:: rate // 8000]
    lvl, f = robust_level_and_freq(x[4000:-800])
    assert f == pytest.approx(1000, abs=3) and lvl == pytest.approx(-10, abs=1.0)
    tx = far.tx_linear(0)
    # pjsua2's media starts when its call is up, which on a loaded machine can be seconds
    # after the span's: measure 2 s from 100 ms after its tone reached the span
    on = np.flatnonzero(np.abs(tx) > 300)
    assert len(on), "no audio from pjsua2 reached the span"
    start = int(on[0]) + 800
    assert len(tx) >= start + 16000, (len(tx), start)
    lvl, f = robust_level_and_freq(tx[start : start + 16000])
    assert f == pytest.approx(1200, abs=3) and -30 < lvl < 0
