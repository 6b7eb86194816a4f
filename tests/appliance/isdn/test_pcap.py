"""pcap traces (LINUX_LAPD, link type 177, with direction) that tshark decodes."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.isdn.pcap import (
    LINKTYPE_LINUX_LAPD,
    PcapError,
    PcapRecord,
    PcapWriter,
    read_pcap,
    sll_header,
)
from appliance.isdn.q931 import Facility, decode_message

from .lapd_sim import Wire
from .test_q931_vectors import load


def test_sll_pseudo_header_layout() -> None:
    h = sll_header(outgoing=True, network_side=True)
    assert len(h) == 16
    assert h == bytes.fromhex("0004 20fd 0001 0100000000000000 0030".replace(" ", ""))
    assert sll_header(False, False)[:2] == b"\x00\x00" and sll_header(False, False)[6] == 0


def test_write_read_round_trip() -> None:
    buf = io.BytesIO()
    w = PcapWriter(buf, network_side=False)
    w.write(b"\x00\x01\x7f", 1000.25, outgoing=True)
    w.write(b"\x02\x01\x73", 1000.5, outgoing=False)
    data = buf.getvalue()
    assert int.from_bytes(data[20:24], "little") == LINKTYPE_LINUX_LAPD
    assert read_pcap(data) == [PcapRecord(1000.25, True, False, b"\x00\x01\x7f"),
                               PcapRecord(1000.5, False, False, b"\x02\x01\x73")]


@given(st.binary(max_size=200))
def test_reader_bad_input_raises_pcap_error(data: bytes) -> None:
    with contextlib.suppress(PcapError):
        read_pcap(data)


def _trace(tmp_path: Path, names: list[str], network_side: bool) -> tuple[Path, int, set[int]]:
    """libpri vectors of `names` over a simulated D-channel; also returns the frame
    numbers carrying DMS-100's RLT facility (profile octet 3 extended, 0x11 0xBE)."""
    w = Wire.make()
    w.user.establish(0.0)
    w.run(0.1)
    n = 0
    for name in names:
        for d, _, raw in load(name):
            (w.user if d == "cpe>net" else w.net).send_data(raw, w.now)
            w.run(w.now + 0.05)
            n += raw[0] == 0x08  # maintenance (PD 0x03/0x43) is not q931.message_type
    w.user.release(w.now)
    w.run(w.now + 0.2)
    path = tmp_path / "dchan.pcap"
    rlt: set[int] = set()
    with path.open("wb") as f:
        pw = PcapWriter(f, network_side=network_side)
        for i, (t, tag, fr) in enumerate(w.log):
            ours = "u>n" if not network_side else "n>u"
            pw.write(fr, 1_800_000_000 + t, outgoing=tag == ours)
            if len(fr) > 4 and not fr[2] & 1:
                m = decode_message(fr[4:])
                if any(f.profile_ext for f in m.all(Facility)):
                    rlt.add(i + 1)
    return path, n, rlt


GROUPS = {  # Wireshark decodes ROSE as QSIG unless told the facility is ETSI
    "qsig-and-north-american": (["ni2", "5ess", "4ess", "dms100", "qsig"], "QSIG"),
    "euroisdn": (["euroisdn_e1", "euroisdn_t1"], "Dissect facility as ETSI"),
}


@pytest.mark.peer
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("group", list(GROUPS))
@pytest.mark.parametrize("network_side", [False, True])
def test_tshark_decodes_without_malformed_packets(tmp_path: Path, group: str,
                                                  network_side: bool) -> None:
    names, encoding = GROUPS[group]
    path, n, rlt = _trace(tmp_path, names, network_side)
    pref = ["-o", f"q932.facility_encoding:{encoding}"] if encoding != "QSIG" else []
    fields = subprocess.run(
        ["tshark", *pref, "-r", str(path), "-T", "fields", "-E", "separator=|",
         "-e", "frame.number", "-e", "lapd.direction", "-e", "q931.message_type",
         "-e", "_ws.malformed", "-e", "_ws.expert.severity"],
        capture_output=True, text=True, check=True).stdout.splitlines()
    rows = [ln.split("|") for ln in fields]
    assert len(rows) == len(read_pcap(path.read_bytes()))
    malformed = {int(r[0]) for r in rows if r[3]}
    # Wireshark's Q.932 dissector does not know DMS-100's RLT facility layout
    # (libpri's own bytes); every other frame must decode cleanly.
    assert malformed == rlt and ("dms100" in names) == bool(rlt)
    # severity 8388608 = error (PI_ERROR); warnings for undecoded OIDs are fine
    errors = {int(r[0]) for r in rows if "8388608" in r[4].split(",")}
    assert errors <= rlt
    q931 = [r for r in rows if r[2]]
    assert len(q931) >= n
    summary = subprocess.run(["tshark", *pref, "-r", str(path)], capture_output=True,
                             text=True, check=True).stdout
    assert "SETUP" in summary and "RESTART ACKNOWLEDGE" in summary
    local = "Local Network" if network_side else "Local User"
    assert local in summary.splitlines()[0]
