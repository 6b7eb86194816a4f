"""D-channel traces as pcap files, link type 177 (LINUX_LAPD), with direction.

Each record is the 16-octet Linux "sll"-like LAPD pseudo-header, then the
LAPD frame (address, control, information; no FCS), as Wireshark's wiretap
reads it (pcap-common.c, `lapd_sll_hdr`):

    pkttype  u16 BE   0 = PACKET_HOST (received), 4 = PACKET_OUTGOING (sent)
    hatype   u16 BE   0x20FD (ARPHRD_LAPD)
    halen    u16 BE   1
    addr[8]           addr[0] = 1 if we are the network side, else 0
    protocol u16 BE   0x0030 (ETH_P_LAPD)

With direction and our side known, Wireshark marks every frame
user->network or network->user and decodes SAPI 0 as Q.931.

`PcapWriter(stream, network_side=...)` writes to any binary stream (the
caller owns the file); `read_pcap(data)` parses a trace back into
`PcapRecord`s (for tests and tools) and raises `PcapError` on bad input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from .errors import IsdnError

LINKTYPE_LINUX_LAPD = 177
PACKET_HOST = 0
PACKET_OUTGOING = 4
ARPHRD_LAPD = 0x20FD
ETH_P_LAPD = 0x0030
SLL_LEN = 16

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_SLL = struct.Struct(">HHH8sH")
MAGIC_US = 0xA1B2C3D4


class PcapError(IsdnError):
    """A pcap file or record that cannot be read."""


def sll_header(outgoing: bool, network_side: bool) -> bytes:
    addr = bytes([1 if network_side else 0]) + bytes(7)
    return _SLL.pack(PACKET_OUTGOING if outgoing else PACKET_HOST, ARPHRD_LAPD, 1, addr,
                     ETH_P_LAPD)


class PcapWriter:
    """Writes LAPD frames with direction to a pcap stream (microsecond timestamps)."""

    def __init__(self, stream: BinaryIO, *, network_side: bool, snaplen: int = 65535) -> None:
        self.stream = stream
        self.network_side = network_side
        self.snaplen = snaplen
        stream.write(_GLOBAL.pack(MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_LINUX_LAPD))

    def write(self, frame: bytes, timestamp: float, *, outgoing: bool) -> None:
        """One frame at `timestamp` (seconds since the epoch), sent or received."""
        data = sll_header(outgoing, self.network_side) + frame
        sec = int(timestamp)
        usec = min(round((timestamp - sec) * 1e6), 999_999)
        cap = data[:self.snaplen]
        self.stream.write(_RECORD.pack(sec, usec, len(cap), len(data)) + cap)

    def flush(self) -> None:
        self.stream.flush()


@dataclass(frozen=True)
class PcapRecord:
    timestamp: float
    outgoing: bool
    network_side: bool
    frame: bytes


def read_pcap(data: bytes) -> list[PcapRecord]:
    """Parse a LINUX_LAPD pcap (either byte order, microsecond timestamps)."""
    if len(data) < _GLOBAL.size:
        raise PcapError("file shorter than the pcap global header")
    magic = int.from_bytes(data[:4], "little")
    if magic == MAGIC_US:
        order = "<"
    elif magic == int.from_bytes(MAGIC_US.to_bytes(4, "little"), "big"):
        order = ">"
    else:
        raise PcapError(f"not a microsecond pcap file (magic 0x{magic:08x})")
    glob = struct.Struct(order + "IHHiIII").unpack_from(data)
    if glob[6] != LINKTYPE_LINUX_LAPD:
        raise PcapError(f"link type {glob[6]}, expected {LINKTYPE_LINUX_LAPD}")
    rec = struct.Struct(order + "IIII")
    pos = _GLOBAL.size
    out: list[PcapRecord] = []
    while pos < len(data):
        if pos + rec.size > len(data):
            raise PcapError("truncated record header")
        sec, usec, incl, _orig = rec.unpack_from(data, pos)
        pos += rec.size
        body = data[pos:pos + incl]
        if len(body) != incl or incl < SLL_LEN:
            raise PcapError("truncated record")
        pos += incl
        pkttype, _, _, addr, _ = _SLL.unpack_from(body)
        out.append(PcapRecord(sec + usec / 1e6, pkttype == PACKET_OUTGOING, bool(addr[0]),
                              body[SLL_LEN:]))
    return out
