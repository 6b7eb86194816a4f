"""pjsua2 (pjproject, an independent SIP stack) calling us and called by us."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from typing import Any

import pytest

from appliance.interwork.facts import CallFacts, CauseFact, Party, Screening, TypeOfNumber
from appliance.sip import events as ev
from appliance.sip.sdp import LocalMedia
from appliance.sip.trunks import TrunkSpec

pytest.importorskip("pjsua2")
MEDIA = LocalMedia("127.0.0.1", 40010, law="ulaw")


def _peer(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.appliance.sip.pjsua2_peer", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=30)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"pjsua2 peer printed no result: {out[-500:]} {err[-1500:]}"
    return dict(json.loads(lines[-1]))


def _trunk(port: int = 9) -> TrunkSpec:
    return TrunkSpec("ai", (("127.0.0.1", port),), options_interval_s=0,
                     trusted_networks=(ipaddress.ip_network("127.0.0.1/32"),))


def test_pjsua2_calls_us(harness: Any) -> None:
    h = harness(_trunk())
    proc = _peer("call", f"sip:+15551000@{h.address[0]}:{h.address[1]}", "1.0")
    call = h.expect(ev.IncomingCall, timeout=15)
    assert call.request_user == "+15551000" and call.remote is not None
    call.call.provisional(180)
    call.call.answer(MEDIA)
    hang = h.expect(ev.Hangup, timeout=15)
    assert hang.by == "remote"
    res = _result(proc)
    assert "CONFIRMED" in res["states"] and res["states"][-1] == "DISCONNECTED"
    assert res["codec"] in ("PCMU", "PCMA")


def test_we_call_pjsua2(harness: Any) -> None:
    proc = _peer("answer", "15")
    assert proc.stdout is not None
    first = ""
    for _ in range(50):
        first = proc.stdout.readline()
        if first.startswith("PORT ") or not first:
            break
    assert first.startswith("PORT "), first
    port = int(first.split()[1])
    h = harness(_trunk(port))
    facts = CallFacts(calling=Party("2125551234", TypeOfNumber.NATIONAL,
                                    screening=Screening.NETWORK_PROVIDED))
    call = h.endpoint.place_call("ai", "1000", facts, MEDIA)
    assert h.expect(ev.Provisional, timeout=10).status == 180
    ans = h.expect(ev.Answered, timeout=10)
    assert ans.remote is not None and ans.remote.codec in ("PCMU", "PCMA")
    call.hangup(CauseFact(16))
    res = _result(proc)
    assert "CONFIRMED" in res["states"] and res["states"][-1] == "DISCONNECTED"
    assert "P-Asserted-Identity: <sip:+12125551234@tdmgw.invalid;user=phone>" in res["invite"]
    assert "Supported: 100rel, timer" in res["invite"]
