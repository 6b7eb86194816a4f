"""A pcap of an RTP tone for sipp's `<exec play_pcap_audio=.../>`: the SIP peer then
sends audio of its own (not an echo of the PBX's), so what the PBX hears is independent
of the echo canceller's view of the PBX's signal.

libpcap file format (tcpdump.org, pcap-savefile(5)): global header, then per packet a
record header and an Ethernet II / IPv4 / UDP / RTP (RFC 3550 s5.1) frame.  sipp reads the
UDP payload and paces the packets by their timestamps.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from appliance.demo.pbx import DBM0_ULAW
from dsp import g711


def tone_pcap(path: Path, freq: float, dbm0: float, seconds: float, *, law: str = "ulaw",
              ptime_ms: int = 20) -> Path:
    n = int(8000 * ptime_ms / 1000)
    packets = int(seconds * 1000 / ptime_ms)
    amp = 32767 * 10 ** ((dbm0 - DBM0_ULAW) / 20)
    t = np.arange(n * packets) / 8000.0
    pcm = (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)[None, :]
    enc = (g711.ulaw_encode if law == "ulaw" else g711.alaw_encode)(pcm)[0].tobytes()
    pt = 0 if law == "ulaw" else 8
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i in range(packets):
        rtp = struct.pack("!BBHII", 0x80, pt | (0x80 if i == 0 else 0), i & 0xFFFF,
                          (i * n) & 0xFFFFFFFF, 0x5EED0001) + enc[i * n:(i + 1) * n]
        udp = struct.pack("!HHHH", 40000, 40000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        us = i * ptime_ms * 1000
        out += struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))
    return path
