"""Shared fixtures for the gateway tests: a router and remote media."""

from __future__ import annotations

import re

from appliance.gateway.routing import InboundRule, OutboundRule, Router
from appliance.interwork.sipheaders import TrunkPolicy
from appliance.sip.sdp import RemoteMedia

REMOTE = RemoteMedia("127.0.0.1", 40000, 0, "PCMU", 101, 20, "sendrecv")
HELD = RemoteMedia("127.0.0.1", 40000, 0, "PCMU", 101, 20, "sendonly")


def router(limit: int = 0) -> Router:
    ins = [
        InboundRule("ai", re.compile(r"2\d{3}"), None, frozenset({"span1"}), 0, "", "voiceai"),
        InboundRule("long", re.compile(r"9(\d{10})"), None, frozenset(), 1, "", "voiceai"),
        InboundRule("vip", re.compile(r"3\d{3}"), re.compile(r"555.*"), frozenset(), 0, "+4930",
                    "voiceai"),
    ]
    outs = [
        OutboundRule("ext", re.compile(r"\d{4}"), frozenset(), 0, "", ("span1",), None),
        OutboundRule("pstn", re.compile(r"\+1\d{10}"), frozenset({"voiceai"}), 0, "9",
                     ("span1", "span2"), 2),
    ]
    return Router(ins, outs, {"voiceai": TrunkPolicy(host="ai.example", country_code="1")},
                  {"voiceai": limit})
