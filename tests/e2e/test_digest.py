"""Digest authentication through the whole gateway (RFC 3261 s22, RFC 7616): registration
to a challenging registrar, calls through a trunk that challenges INVITE with 407, and
inbound digest: the right password reaches the PBX, a wrong one is 403 with no SETUP,
and a replayed Authorization is refused."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest

from appliance.sip.security import digest_response, parse_auth_params
from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer
SCEN = Path(__file__).parent / "scenarios"


def _trunk(peer: tuple[str, int], extra: str) -> str:
    return f"""
[[sip.trunks]]
name = "ai"
host = "{peer[0]}"
port = {peer[1]}
options_interval_s = 0
{extra}
"""


def test_registration_answers_the_registrars_401(tmp_path: Path) -> None:
    """sipp's registrar challenges with 401: the gateway's REGISTER comes back with
    Authorization (verified by sipp's verifyauth), 200 with expires=6 makes it refresh
    at half the time (challenged and verified again); CTI says registered."""
    async def body() -> Rig:
        reg = Sipp(tmp_path / "sipp", "registrar.xml", timeout_s=20)
        try:
            trunks = _trunk(reg.address, 'username = "alice"\npassword = "s3cret"\n'
                                         "registration = true")
            async with Rig(tmp_path, reg.address, trunks=trunks) as rig:
                res = await asyncio.get_running_loop().run_in_executor(None, reg.wait, 20)
                assert res.ok(), res.errors + res.messages[-3000:]
                await wait_for(lambda: len(rig.cti("trunk.registration")) >= 2, 5,
                               "two registrations")
                return rig
        finally:
            reg.kill()
    rig = asyncio.run(body())
    sent = list(dict.fromkeys(m.replace("\r\n", "\n") for m in rig.wire.sent("REGISTER ")))
    assert len(sent) == 4, sent  # (REGISTER, 401, REGISTER+Authorization, 200) x 2
    assert "Authorization:" not in sent[0] and "\nExpires: 3600\n" in sent[0]
    auth = re.search(r"\nAuthorization: (Digest [^\n]*)", sent[1])
    assert auth and 'username="alice"' in auth[1] and 'realm="sipp.test"' in auth[1], sent[1]
    regs = rig.cti("trunk.registration")
    assert all(r["registered"] and r["status"] == 200 for r in regs), regs


def test_trunk_407_then_proxy_authorization_connects_the_pbx(tmp_path: Path) -> None:
    """A PBX call to a trunk that challenges the INVITE with 407: ACK, the INVITE again
    with Proxy-Authorization (sipp verifies it for gw / pa55), 180, 200 -> CONNECT at
    the PBX; the PBX's hang-up ends it with BYE."""
    async def body() -> Rig:
        uas = Sipp(tmp_path / "sipp", str(SCEN / "uas_auth_407.xml"), timeout_s=20)
        try:
            async with Rig(tmp_path, uas.address,
                           extra_trunk='username = "gw"\npassword = "pa55"') as rig:
                call = rig.pbx.place_call("2001", caller="5551234")
                await wait_for(lambda: call.state == "answered", 10, "CONNECT at the PBX")
                rig.pbx.hangup(call, 16)
                await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
                res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 10)
                assert res.ok(), res.errors + res.messages[-3000:]
                return rig
        finally:
            uas.kill()
    rig = asyncio.run(body())
    invites = list(dict.fromkeys(m.replace("\r\n", "\n") for m in rig.wire.sent("INVITE ")))
    assert len(invites) == 2, invites  # (retransmissions under load are the same bytes)
    assert "Proxy-Authorization:" not in invites[0]
    pa = re.search(r"\nProxy-Authorization: (Digest [^\n]*)", invites[1])
    assert pa, invites[1]
    p = parse_auth_params(pa[1])
    assert p["username"] == "gw" and p["realm"] == "ai.test" and p["qop"] == "auth"
    # the response sippy computed checks out against RFC 7616 s3.4.1 for gw / pa55
    assert p["response"] == digest_response("MD5", "gw", "ai.test", "pa55", "INVITE",
                                            p["uri"], p["nonce"], "auth", p["nc"], p["cnonce"])
    assert rig.tap.names("to_pbx")[:3] == ["CALL_PROCEEDING", "ALERTING", "CONNECT"], \
        rig.tap.describe()


INBOUND = ('trusted_networks = ["10.9.9.9/32"]\ninbound_username = "alice"\n'
           'inbound_password = "secret"')


def _replay(invite: str, gw: tuple[str, int]) -> str:
    """Send a captured INVITE again as a new call (new Call-ID, branch and tag) with its
    Authorization unchanged; returns the gateway's first answer line."""
    msg = invite.replace("\r\n", "\n")
    msg = re.sub(r"(?m)^Call-ID: .*$", "Call-ID: replayed-0001@127.0.0.1", msg)
    msg = re.sub(r"(?m)^(From: .*;tag=)\S+$", r"\g<1>replay1", msg)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        port = s.getsockname()[1]
        msg = re.sub(r"(?m)^Via: .*$", f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKreplay1",
                     msg)
        s.sendto(msg.replace("\n", "\r\n").encode(), gw)
        while True:
            line = s.recv(65535).decode(errors="replace").split("\r\n", 1)[0]
            if not line.startswith("SIP/2.0 1"):
                return line


def test_inbound_digest_accepted_then_a_replay_refused(tmp_path: Path) -> None:
    """sipp, from an untrusted address, is challenged (401, realm tdmgw), answers with the
    right password and the call reaches the PBX (answered, BYE, cause 16).  The same
    Authorization sent again in a new INVITE is refused with 401 and no second SETUP."""
    async def body() -> tuple[Rig, str]:
        async with Rig(tmp_path, ("127.0.0.1", 9), extra_trunk=INBOUND) as rig:
            uac = Sipp(tmp_path / "sipp", str(SCEN / "uac_auth_ap.xml"), remote=rig.sip_address,
                       service="3001", timeout_s=20, extra=["-au", "alice", "-ap", "secret"])
            try:
                res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
                assert res.ok(), res.errors + res.messages[-3000:]
                await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
            finally:
                uac.kill()
            authed = [m for m in rig.wire.received("INVITE ") if "Authorization:" in m]
            assert len(authed) == 1
            line = await asyncio.get_running_loop().run_in_executor(
                None, _replay, authed[0], rig.sip_address)
            await asyncio.sleep(0.3)
            return rig, line
    rig, line = asyncio.run(body())
    assert rig.tap.names().count("SETUP") == 1, rig.tap.describe()
    assert rig.tap.first("DISCONNECT", "to_pbx").cause == 16
    assert line.startswith("SIP/2.0 401"), line
    refused = rig.cti("sip.refused")
    assert refused and refused[-1]["status"] == 401 and "replayed" in refused[-1]["why"], refused


def test_inbound_digest_wrong_password_is_403_and_no_setup(tmp_path: Path) -> None:
    """The wrong password: 403, logged (CTI sip.refused with the reason), and the PBX
    never sees a SETUP."""
    async def body() -> Rig:
        async with Rig(tmp_path, ("127.0.0.1", 9), extra_trunk=INBOUND) as rig:
            uac = Sipp(tmp_path / "sipp", str(SCEN / "uac_auth_refused.xml"),
                       remote=rig.sip_address, service="3001", timeout_s=20,
                       extra=["-au", "alice", "-ap", "guess"])
            try:
                res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
                assert res.ok(), res.errors + res.messages[-3000:]
            finally:
                uac.kill()
            await asyncio.sleep(0.3)
            return rig
    rig = asyncio.run(body())
    assert rig.tap.names() == [], rig.tap.describe()
    assert rig.cti("call.started") == []
    refused = rig.cti("sip.refused")
    assert len(refused) == 1 and refused[0]["status"] == 403, refused
    assert "wrong digest response" in refused[0]["why"]
