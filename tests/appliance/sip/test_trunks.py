"""`[sip]` configuration to the endpoint's trunk settings."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from appliance.config.sections import SipConfig
from appliance.sip.trunks import EndpointSettings


def test_from_config_carries_every_sip_setting() -> None:
    cfg = SipConfig.model_validate({
        "bind": "127.0.0.1", "port": 5070, "realm": "gw1",
        "trunks": [{
            "name": "ai", "host": "192.0.2.1", "port": 5080, "failover": ["192.0.2.2:5060"],
            "trusted_networks": ["198.51.100.0/24"], "inbound_username": "pbx",
            "inbound_password": "pw", "username": "u", "password": "p", "registration": True,
            "no_provisional_s": 2.5, "rel100": "required", "session_expires_s": 600,
            "redirection": "history-info", "send_pai": False, "country_code": "44",
            "domain": "gw.example",
        }],
    })
    s = EndpointSettings.from_config(cfg)
    t = s.trunk("ai")
    assert s.realm == "gw1" and s.port == 5070
    assert t.targets == (("192.0.2.1", 5080), ("192.0.2.2", 5060))
    assert t.trusted_networks == (ipaddress.ip_network("198.51.100.0/24"),)
    assert t.inbound_peer().password == "pw" and t.register and t.password == "p"
    assert t.no_provisional_s == 2.5 and t.rel100 == "required" and t.session_expires_s == 600
    assert t.policy.redirection == "history-info" and not t.policy.send_pai
    assert t.policy.country_code == "44" and t.policy.host == "gw.example"


def test_default_trust_is_the_targets() -> None:
    cfg = SipConfig.model_validate({"trunks": [{"name": "ai", "host": "192.0.2.1",
                                                "failover": ["192.0.2.2:5060"]}]})
    peer = EndpointSettings.from_config(cfg).trunk("ai").inbound_peer()
    assert [str(n) for n in peer.networks] == ["192.0.2.1/32", "192.0.2.2/32"]


@pytest.mark.parametrize("bad", [
    {"trusted_networks": ["10.0.0.0/33"]},
    {"inbound_password": "x"},
    {"registration": True},
    {"rel100": "maybe"},
])
def test_bad_trunk_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SipConfig.model_validate({"trunks": [{"name": "ai", "host": "192.0.2.1", **bad}]})
