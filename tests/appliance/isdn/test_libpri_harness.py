"""The libpri ctypes harness itself: struct layouts match libpri.h, and two
libpri instances bring the link up and place a call through it."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.peers.libpri import Ev, LibPri, Node, Switch, abi, relay

pytestmark = pytest.mark.peer


def _c_offsets(tmp: Path) -> dict[str, int]:
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <libpri.h>',
             'int main(void) {']
    for cls, cname in abi.C_NAMES:
        lines.append(f'printf("{cls.__name__}.size %zu\\n", sizeof({cname}));')
        for fname, *_ in cls._fields_:
            cf = fname.rstrip("_")
            lines.append(f'printf("{cls.__name__}.{fname} %zu\\n", offsetof({cname}, {cf}));')
    lines.append("return 0; }")
    src = tmp / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp / "layout"
    subprocess.run(["gcc", "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (ln.split() for ln in out.splitlines())}


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc needed to read libpri.h")
def test_struct_layouts_match_libpri_h(tmp_path: Path) -> None:
    c = _c_offsets(tmp_path)
    for cls, _ in abi.C_NAMES:
        assert ctypes.sizeof(cls) == c[f"{cls.__name__}.size"], cls.__name__
        for fname, *_ in cls._fields_:
            assert getattr(cls, fname).offset == c[f"{cls.__name__}.{fname}"], (cls, fname)


@pytest.mark.parametrize("switch", list(Switch))
def test_two_libpri_bring_link_up_and_call(switch: Switch) -> None:
    net, cpe = LibPri(Node.NETWORK, switch), LibPri(Node.CPE, switch)
    try:
        evs = relay(net, cpe, max_wait=2.0, until=lambda o: len(o) >= 2)
        assert {(s, e.e) for s, e in evs} >= {("a", Ev.DCHAN_UP), ("b", Ev.DCHAN_UP)}
        call = cpe.new_call()
        cpe.setup(call, called="1000", caller="5551234", channel=2)
        evs = relay(net, cpe, max_wait=1.0, until=lambda o: any(e.e == Ev.RING for _, e in o))
        ring = [e for s, e in evs if s == "a" and e.e == Ev.RING]
        assert ring and ring[0].callednum == "1000" and ring[0].channel & 0xFF == 2
        net.answer(ring[0].call, 2)
        evs = relay(net, cpe, max_wait=1.0, until=lambda o: any(e.e == Ev.ANSWER for _, e in o))
        assert any(s == "b" and e.e == Ev.ANSWER for s, e in evs)
    finally:
        net.close()
        cpe.close()
