"""Every call fact across, both ways (issue 11), with libpri as the PBX and sipp as SIP peer.

PBX to SIP: libpri's pri_sr_* setters give the calling number (type, presentation,
screening), name, redirecting number and reason, and user-user; the INVITE sipp
received is checked header by header, byte for byte, and the call's CTI event
carries the same facts.  SIP to PBX: sipp's From/PAI/Privacy/Diversion/User-to-User
arrive in libpri's RING event fields.  Restricted presentation never reaches From
or a display name.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from appliance.demo.libpri import PRI_NATIONAL_ISDN, Ev
from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer
SCEN = Path(__file__).parent / "scenarios"
PRES_PROHIB_USER_NUMBER_PASSED_SCREEN = 0x21
PRES_ALLOWED_USER_NUMBER_PASSED_SCREEN = 0x01


def invite_headers(messages: str) -> dict[str, list[str]]:
    """The header lines of the first INVITE in a sipp -trace_msg log."""
    start = messages.index("INVITE sip:")
    block = messages[start:].split("\n\n", 1)[0]
    out: dict[str, list[str]] = {}
    for line in block.splitlines()[1:]:
        name, _, value = line.partition(":")
        out.setdefault(name.strip().lower(), []).append(value.strip())
    return out


def record_events(rig: Rig) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    real = rig.core.bus.publish

    def publish(kind: str, **fields: Any) -> Any:
        seen.append((kind, fields))
        return real(kind, **fields)

    rig.core.bus.publish = publish  # type: ignore[method-assign]
    return seen


async def pbx_to_sip(tmp: Path, **setup: Any) -> tuple[dict[str, list[str]], list[Any]]:
    uas = Sipp(tmp / "sipp", "uas_answer.xml", timeout_s=30)
    try:
        async with Rig(tmp, uas.address) as rig:
            events = record_events(rig)
            call = rig.pbx.place_call("2001", **setup)
            await wait_for(lambda: call.state == "answered", 10, "answer at the PBX")
            rig.pbx.hangup(call, 16)
            await wait_for(rig.idle, 10, "every channel idle")
            res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 10)
            assert res.ok(), res.errors + res.messages[-2000:]
            return invite_headers(res.messages), events
    finally:
        uas.kill()


def test_restricted_caller_redirection_uui_to_sip(tmp_path: Path) -> None:
    h, events = asyncio.run(pbx_to_sip(
        tmp_path, caller="2125551234", callername="Alice Smith", callerplan=PRI_NATIONAL_ISDN,
        callerpres=PRES_PROHIB_USER_NUMBER_PASSED_SCREEN,
        redirecting=("2125550001", PRI_NATIONAL_ISDN, 0, 1), useruser="hello"))
    assert re.fullmatch(r'Anonymous <sip:anonymous@anonymous\.invalid>;tag=\w+', h["from"][0])
    assert h["p-asserted-identity"] == ["<sip:+12125551234@127.0.0.1;user=phone>"]
    assert h["privacy"] == ["id"]
    assert h["diversion"] == ["<sip:+12125550001@127.0.0.1;user=phone>;reason=user-busy;counter=1"]
    # libpri sends the user-user string with protocol discriminator 4 (IA5)
    assert h["user-to-user"] == [b"\x04hello".hex() + ";encoding=hex;purpose=isdn-uui;content=isdn-uui"]
    text = "\n".join(v for vs in h.values() for v in vs)
    assert "Alice" not in text and "2125551234" not in h["from"][0]
    started = next(f for k, f in events if k == "call.started")
    facts = started["facts"]
    assert facts["calling"] == {"digits": "2125551234", "type": "national", "plan": "isdn_e164",
                                "presentation": "restricted",
                                "screening": "user_verified_passed"}
    assert facts["redirection"]["redirecting"]["digits"] == "2125550001"
    assert facts["redirection"]["reason"] == "call_forwarding_busy"
    assert facts["uui"] == {"protocol": 4, "hex": b"hello".hex()}
    ended = next(f for k, f in events if k == "call.ended")
    assert ended["cause"] == 16


def test_allowed_caller_with_name_to_sip(tmp_path: Path) -> None:
    h, _ = asyncio.run(pbx_to_sip(
        tmp_path, caller="2125551234", callername="Alice Smith", callerplan=PRI_NATIONAL_ISDN,
        callerpres=PRES_ALLOWED_USER_NUMBER_PASSED_SCREEN))
    assert re.fullmatch(r'"Alice Smith" <sip:\+12125551234@127\.0\.0\.1;user=phone>;tag=\S+',
                        h["from"][0])
    assert h["p-asserted-identity"] == ['"Alice Smith" <sip:+12125551234@127.0.0.1;user=phone>']
    assert "privacy" not in h


async def sip_to_pbx(tmp: Path, name: str, user: str, privacy: str) -> Any:
    csv = tmp / "f.csv"
    csv.write_text(f"SEQUENTIAL\n{name};{user};{privacy}\n")
    async with Rig(tmp, ("127.0.0.1", 9)) as rig:
        rings: list[Any] = []
        rig.pbx.policy = "answer"
        rig.pbx.on_event = lambda call, ev: rings.append(ev) if ev.e == Ev.RING else None
        uac = Sipp(tmp / "sipp", str(SCEN / "uac_facts.xml"), remote=rig.sip_address,
                   service="2001", timeout_s=20, extra=["-inf", str(csv)])
        try:
            await wait_for(lambda: bool(rings) and bool(rig.pbx.calls), 10, "RING at the PBX")
            call = next(iter(rig.pbx.calls.values()))
            await asyncio.sleep(0.3)
            rig.pbx.hangup(call, 16)
            res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 15)
            assert res.ok(), res.errors + res.messages[-2000:]
            await wait_for(rig.idle, 10, "every channel idle")
        finally:
            uac.kill()
        return rings[0]


def test_sip_facts_to_pbx(tmp_path: Path) -> None:
    ring = asyncio.run(sip_to_pbx(tmp_path, "Bob Jones", "+12125559876", "Privacy: none"))
    assert ring.callednum == "2001"
    assert ring.callingnum == "2125559876" and ring.callingplan == PRI_NATIONAL_ISDN
    assert ring.callingpres & 0x60 == 0  # presentation allowed
    assert ring.callingname == "Bob Jones"
    assert ring.redirectingnum == "2125550001" and ring.redirectingreason == 1
    assert ring.useruserinfo == "\xc0\xff\xee" or ring.useruserinfo.encode("latin-1") == b"\xc0\xff\xee"


def test_sip_privacy_id_restricts_at_pbx(tmp_path: Path) -> None:
    ring = asyncio.run(sip_to_pbx(tmp_path, "Bob Jones", "+12125559876", "Privacy: id"))
    assert ring.callingpres & 0x60 == 0x20  # presentation restricted
    assert ring.callingname == ""  # no name toward the PBX for a restricted caller


# ---------------------------------------------------------------- helpers for the other fact tests

SDP = """v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15"""


def sip_message(messages: str, start: str, nth: int = 0) -> str:
    """The `nth` message of a sipp -trace_msg log whose start line begins with `start`
    (for example "CANCEL sip:" or "SIP/2.0 200"), header block only."""
    found = [m.start() for m in re.finditer(r"^" + re.escape(start), messages, re.M)]
    assert len(found) > nth, f"no {start!r} #{nth} in the trace:\n{messages[-3000:]}"
    return messages[found[nth]:].split("\n\n", 1)[0]


def headers_of(block: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in block.splitlines()[1:]:
        name, _, value = line.partition(":")
        out.setdefault(name.strip().lower(), []).append(value.strip())
    return out


def write_scenario(tmp: Path, name: str, body: str) -> str:
    """A sipp scenario written for one test (headers sipp's CSV injection cannot carry)."""
    d = tmp / "scenarios"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.xml"
    path.write_text('<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
                    '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
                    f'<scenario name="{name}">\n{body}\n</scenario>\n')
    return str(path)


def _lines(headers: list[str]) -> str:
    return "".join(f"      {h}\n" for h in headers)


def uac_scenario(tmp: Path, headers: list[str], *, final: int = 200, bye: list[str] | None = None,
                 from_header: str = 'From: "Bob Jones" <sip:+12125559876@[local_ip]>') -> str:
    """INVITE with `headers`; then: `final` != 200 -> ACK it; 200 and `bye` None ->
    wait for the gateway's BYE; 200 and `bye` a header list -> send BYE with them."""
    tag = ";tag=[pid]SIPpTag00[call_number]"
    invite = f"""  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {from_header}{tag}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      Contact: <sip:sipp@[local_ip]:[local_port]>
{_lines(headers)}      Max-Forwards: 70
      CSeq: 1 INVITE
      Content-Type: application/sdp
      Content-Length: [len]

      {SDP}
    ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
"""
    ack = f"""  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {from_header}{tag}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]></send>
"""
    if final != 200:
        body = invite + f'  <recv response="{final}"/>\n' + ack
    elif bye is None:
        body = invite + '  <recv response="200" rtd="true"/>\n' + ack + """  <recv request="BYE"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]></send>
"""
    else:
        body = invite + '  <recv response="200" rtd="true"/>\n' + ack + f"""  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {from_header}{tag}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:sipp@[local_ip]:[local_port]>
{_lines(bye)}      Max-Forwards: 70
      Content-Length: 0
    ]]></send>
  <recv response="200"/>
"""
    return write_scenario(tmp, "uac_test", body)


def uas_scenario(tmp: Path, *, final: int = 200, final_headers: list[str] | None = None,
                 ring: bool = True, end: str = "bye") -> str:
    """Answer an INVITE: 180 (if `ring`), then `final` with `final_headers` (a failure
    is ACKed); 200 then waits for a BYE (`end` "bye") ; `final` 0 waits for a CANCEL."""
    to_tag = "[last_To:];tag=[pid]SIPpTag01[call_number]"
    resp = """  <send><![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      {to}
      [last_Call-ID:]
      {cseq}
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
{extra}{body}
    ]]></send>
"""
    texts = {180: "180 Ringing", 200: "200 OK", 404: "404 Not Found", 408: "408 Request Timeout",
             480: "480 Temporarily Unavailable", 486: "486 Busy Here", 487: "487 Request Terminated",
             484: "484 Address Incomplete", 503: "503 Service Unavailable", 603: "603 Decline",
             403: "403 Forbidden", 500: "500 Server Internal Error"}
    no_body = "      Content-Length: 0"
    sdp_body = ("      Content-Type: application/sdp\n      Content-Length: [len]\n\n      "
                + SDP)
    body = """  <recv request="INVITE">
    <action><ereg regexp="[0-9]+ INVITE" search_in="hdr" header="CSeq:" assign_to="invcseq"/></action>
  </recv>
"""
    if ring:
        body += resp.format(status=texts[180], to=to_tag, cseq="[last_CSeq:]", extra="",
                            body=no_body)
    if final == 0:
        body += """  <recv request="CANCEL"/>
""" + resp.format(status="200 OK", to="[last_To:]", cseq="[last_CSeq:]", extra="",
                  body=no_body) + resp.format(status=texts[487], to=to_tag, cseq="CSeq: [$invcseq]",
                                             extra="", body=no_body) + '  <recv request="ACK"/>\n'
    elif final == 200:
        body += resp.format(status=texts[200], to=to_tag, cseq="[last_CSeq:]",
                            extra=_lines(final_headers or []), body=sdp_body)
        body += '  <recv request="ACK"/>\n'
        if end == "bye":
            body += '  <recv request="BYE"/>\n' + resp.format(
                status="200 OK", to="[last_To:]", cseq="[last_CSeq:]", extra="", body=no_body)
    else:
        body += resp.format(status=texts[final], to=to_tag, cseq="[last_CSeq:]",
                            extra=_lines(final_headers or []), body=no_body)
        body += '  <recv request="ACK"/>\n'
    body += '  <Reference variables="invcseq"/>'
    return write_scenario(tmp, "uas_test", body)


class SwitchRig(Rig):
    """The rig with another switch type on both sides (the gateway's span and libpri)."""

    def __init__(self, tmp: Path, peer: tuple[str, int], switch: str = "qsig", **kw: Any) -> None:
        from appliance.demo.libpri import LibPri, Node, Switch

        from . import rig as rigmod

        real = rigmod.config_text

        def text(*a: Any, **k: Any) -> str:
            return real(*a, **k).replace('switchtype = "ni2"', f'switchtype = "{switch}"')

        rigmod.config_text = text
        try:
            super().__init__(tmp, peer, **kw)
        finally:
            rigmod.config_text = real
        self.pbx.pri.close()
        self.pbx.pri = LibPri(Node.NETWORK, Switch[switch.upper()])
        self.pbx.pri.set_timer("T200", 200)
