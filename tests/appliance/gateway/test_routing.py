"""Routing: rules in order, regex, strip/prepend, +E.164 per trunk, limits (issue 10 item 3)."""

from __future__ import annotations

import pytest

from appliance.config.load import loads
from appliance.gateway.routing import NoRoute, Router
from appliance.interwork.facts import Party, TypeOfNumber
from appliance.sip.trunks import EndpointSettings

from .helpers import router


def test_inbound_by_span_and_called_number() -> None:
    r = router()
    d = r.inbound("span1", Party("2001"), None)
    assert (d.rule, d.trunk, d.request_user) == ("ai", "voiceai", "2001")
    with pytest.raises(NoRoute) as e:
        r.inbound("span2", Party("2001"), None)  # rule "ai" covers span1 only
    assert (e.value.cause, e.value.status) == (1, 404)


def test_inbound_strip_and_e164_by_type_of_number() -> None:
    d = router().inbound("span2", Party("95551234567", TypeOfNumber.NATIONAL), None)
    assert d.request_user == "+15551234567"
    d = router().inbound("span2", Party("94930123456", TypeOfNumber.INTERNATIONAL), None)
    assert d.request_user == "+4930123456"


def test_inbound_calling_regex_and_plus_prepend() -> None:
    r = router()
    assert r.inbound("span1", Party("3001"), Party("5550100")).request_user == "+49303001"
    with pytest.raises(NoRoute):
        r.inbound("span1", Party("3001"), Party("6660100"))


def test_outbound_by_request_user_to_span_list_with_type() -> None:
    d = router().outbound("voiceai", "+15551234567")
    assert d.rule == "pstn" and d.spans == ("span1", "span2")
    assert d.called == Party("95551234567", TypeOfNumber.NATIONAL)
    d = router().outbound("voiceai", "2001;phone-context=x")
    assert d.rule == "ext" and d.called == Party("2001")


def test_outbound_no_route_is_404_cause_1() -> None:
    with pytest.raises(NoRoute) as e:
        router().outbound("voiceai", "+4930123")
    assert (e.value.cause, e.value.status) == (1, 404)


def test_trunk_call_limit_both_ways() -> None:
    r = router(limit=2)
    r.acquire("voiceai")
    r.inbound("span1", Party("2001"), None)
    r.acquire("voiceai")
    with pytest.raises(NoRoute) as e:
        r.inbound("span1", Party("2001"), None)
    assert (e.value.cause, e.value.status) == (34, 503)
    with pytest.raises(NoRoute):
        r.outbound("voiceai", "2001")
    r.release("voiceai")
    assert r.outbound("voiceai", "2001").rule == "ext"


TOML = """
[[spans]]
name = "s1"
number = 1
driver = "virtual"
type = "T1"
switchtype = "ni2"
side = "user"
[spans.virtual]
dchannel_socket = "/tmp/x.dchan"
bchannel_local = "127.0.0.1:41000"
bchannel_remote = "127.0.0.1:41001"
[[sip.trunks]]
name = "ai"
host = "127.0.0.1"
max_calls = 1
[[routes.inbound]]
name = "all"
match = "(\\\\d+)"
prepend = "+"
target = "ai"
[[routes.outbound]]
name = "all"
spans = ["s1"]
number_type = "national"
"""


def test_from_config() -> None:
    cfg = loads(TOML, source="test").config
    r = Router.from_config(cfg.routes, EndpointSettings.from_config(cfg.sip).trunks,
                           cfg.sip.trunks)
    assert r.limits == {"ai": 1}
    assert r.inbound("s1", Party("15551234"), None).request_user == "+15551234"
    assert r.outbound("ai", "4444").called == Party("4444", TypeOfNumber.NATIONAL)
