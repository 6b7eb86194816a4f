"""Call facts with pjsua2 on the SIP side (issue 11): the voice AI's view.

pjsua2 (pjproject, `tests.peers.pjsua2_peer`) answers the call the PBX (libpri)
places through the gateway and reports what its API gives an application: the
caller as pjsip parsed From (`CallInfo.remoteUri`), and the INVITE's other headers
(P-Asserted-Identity, Privacy, User-to-User) from `SipRxData.wholeMsg`.  The other
way, pjsua2 calls the PBX with PAI, Privacy and User-to-User set through
`CallOpParam.txOption.headers`, and libpri's RING event has them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from appliance.demo.libpri import PRI_NATIONAL_ISDN, Ev, party_id

from .rig import Rig, wait_for
from .test_facts import headers_of, record_events

pytestmark = pytest.mark.peer
ROOT = Path(__file__).parents[2]
PRES_ALLOWED_PASSED, PRES_PROHIB_PASSED = 0x01, 0x21


def _peer(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.peers.pjsua2_peer", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=30)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"pjsua2 peer printed no result: {out[-500:]} {err[-1500:]}"
    return dict(json.loads(lines[-1]))


async def pbx_to_pjsua2(tmp: Path, **setup: Any) -> tuple[dict[str, Any], list[Any]]:
    proc = _peer("answer", "20")
    try:
        assert proc.stdout is not None
        first = ""
        for _ in range(50):  # pjlib logs a line or two before
            first = proc.stdout.readline()
            if first.startswith("PORT ") or not first:
                break
        assert first.startswith("PORT "), first
        async with Rig(tmp, ("127.0.0.1", int(first.split()[1]))) as rig:
            events = record_events(rig)
            call = rig.pbx.place_call("2001", **setup)
            await wait_for(lambda: call.state == "answered", 15, "answer at the PBX")
            await asyncio.sleep(0.3)
            rig.pbx.hangup(call, 16)
            await wait_for(rig.idle, 20, "every channel idle")
            res = await asyncio.get_running_loop().run_in_executor(None, _result, proc)
        return res, events
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_pjsua2_sees_restricted_caller_with_pai_privacy_and_uui(tmp_path: Path) -> None:
    res, events = asyncio.run(pbx_to_pjsua2(
        tmp_path, caller_party=party_id("2125551234", plan=PRI_NATIONAL_ISDN,
                                        presentation=PRES_PROHIB_PASSED, name="Alice Smith"),
        useruser="order-4711"))
    assert "CONFIRMED" in res["states"] and res["states"][-1] == "DISCONNECTED"
    # what the voice AI shows as the caller: anonymous, no name, no number
    assert res["remote_uri"] == '"Anonymous" <sip:anonymous@anonymous.invalid>'
    h = headers_of(res["invite"].replace("\r\n", "\n").split("\n\n", 1)[0])
    # what it may use as the trusted peer (RFC 3325): the asserted identity, hidden by Privacy
    assert h["p-asserted-identity"] == ["<sip:+12125551234@127.0.0.1;user=phone>"]
    assert h["privacy"] == ["id"]
    # the PBX's user-user data, protocol discriminator 4 (IA5) first (RFC 7434)
    assert h["user-to-user"] == [b"\x04order-4711".hex()
                                 + ";encoding=hex;purpose=isdn-uui;content=isdn-uui"]
    assert "Alice" not in res["invite"] and "Smith" not in res["invite"]
    started = next(f for k, f in events if k == "call.started")["facts"]
    assert started["uui"] == {"protocol": 4, "hex": b"order-4711".hex()}
    assert started["calling"]["presentation"] == "restricted"


def test_pjsua2_sees_allowed_caller_and_name(tmp_path: Path) -> None:
    res, _ = asyncio.run(pbx_to_pjsua2(
        tmp_path, caller_party=party_id("2125551234", plan=PRI_NATIONAL_ISDN,
                                        presentation=PRES_ALLOWED_PASSED, name="Alice Smith")))
    assert res["remote_uri"] == '"Alice Smith" <sip:+12125551234@127.0.0.1;user=phone>'
    h = headers_of(res["invite"].replace("\r\n", "\n").split("\n\n", 1)[0])
    assert h["p-asserted-identity"] == ['"Alice Smith" <sip:+12125551234@127.0.0.1;user=phone>']
    assert "privacy" not in h


def test_pjsua2_calls_pbx_with_identity_privacy_and_uui(tmp_path: Path) -> None:
    async def run() -> tuple[Any, dict[str, Any]]:
        async with Rig(tmp_path, ("127.0.0.1", 9)) as rig:
            rings: list[Any] = []
            rig.pbx.policy = "answer"
            rig.pbx.on_event = lambda c, ev: rings.append(ev) if ev.e == Ev.RING else None
            host, port = rig.sip_address
            headers = [["P-Asserted-Identity", "<sip:+13035550000@127.0.0.1;user=phone>"],
                       ["Privacy", "id"],
                       ["User-to-User", "04c0ffee;encoding=hex;purpose=isdn-uui;content=isdn-uui"]]
            proc = _peer("call", f"sip:2001@{host}:{port}", "1.0", json.dumps(headers))
            try:
                await wait_for(lambda: bool(rings), 15, "RING at the PBX")
                res = await asyncio.get_running_loop().run_in_executor(None, _result, proc)
                await wait_for(rig.idle, 20, "every channel idle")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            return rings[0], res

    ring, res = asyncio.run(run())
    assert "CONFIRMED" in res["states"]
    assert ring.callednum == "2001"
    assert ring.callingnum == "3035550000" and ring.callingpres == PRES_PROHIB_PASSED
    assert ring.callingname == ""
    assert ring.useruserinfo.encode("latin-1") == b"\xc0\xff\xee"
