"""What the SIP endpoint knows about each trunk, built from `[sip]` configuration.

`EndpointSettings.from_config(SipConfig)` is the only place that reads the
pydantic model, so the endpoint and its tests work on these plain values.
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Literal

from appliance.interwork.sipheaders import TrunkPolicy
from appliance.sip.security import InboundPeer, IpNetwork, parse_networks


@dataclass(frozen=True)
class TrunkSpec:
    name: str
    targets: tuple[tuple[str, int], ...]
    policy: TrunkPolicy = field(default_factory=TrunkPolicy)
    username: str | None = None
    password: str | None = None
    register: bool = False
    register_expires_s: int = 3600
    trusted_networks: tuple[IpNetwork, ...] = ()
    inbound_username: str | None = None
    inbound_password: str | None = None
    options_interval_s: float = 30.0
    no_provisional_s: float = 4.0
    rel100: Literal["off", "supported", "required"] = "supported"
    session_expires_s: int = 1800
    min_se_s: int = 90
    session_refresh: Literal["update", "reinvite"] = "update"

    def inbound_peer(self) -> InboundPeer:
        nets = self.trusted_networks
        if not nets:
            # Default trust: the trunk's own targets, when they are IP literals.
            found: list[IpNetwork] = []
            for host, _ in self.targets:
                with contextlib.suppress(ValueError):
                    found.append(ipaddress.ip_network(host))
            nets = tuple(found)
        return InboundPeer(self.name, nets, self.inbound_username, self.inbound_password)


@dataclass(frozen=True)
class EndpointSettings:
    bind: str = "127.0.0.1"
    port: int = 0
    user_agent: str = "tdmgw"
    realm: str = "tdmgw"
    nat_contact: bool = False
    trunks: tuple[TrunkSpec, ...] = ()

    def trunk(self, name: str) -> TrunkSpec:
        for t in self.trunks:
            if t.name == name:
                return t
        raise KeyError(f"no SIP trunk named {name!r}")

    @classmethod
    def from_config(cls, sip: Any) -> EndpointSettings:
        """From `appliance.config.sections.SipConfig`."""
        trunks = []
        for t in sip.trunks:
            def opt(name: str, default: Any, _t: Any = t) -> Any:
                return getattr(_t, name, default)
            password = None
            if t.password is not None:
                password = t.password.get_secret_value()
            elif t.password_file is not None:
                password = t.password_file.read_text().splitlines()[0]
            inbound_pw = opt("inbound_password", None)
            if inbound_pw is not None and hasattr(inbound_pw, "get_secret_value"):
                inbound_pw = inbound_pw.get_secret_value()
            targets = [(t.host, t.port)] + [(hp.host, hp.port) for hp in opt("failover", [])]
            policy = TrunkPolicy(
                host=opt("domain", None) or t.host, country_code=opt("country_code", "1"),
                send_pai=opt("send_pai", True), trust_pai=opt("trust_pai", True),
                redirection=opt("redirection", "diversion"),
                trust_redirection=opt("trust_redirection", True), send_uui=opt("send_uui", True),
                trust_uui=opt("trust_uui", True), send_reason=opt("send_reason", True))
            trunks.append(TrunkSpec(
                name=t.name, targets=tuple(targets), policy=policy, username=t.username,
                password=password, register=opt("registration", False),
                register_expires_s=opt("register_expires_s", 3600),
                trusted_networks=parse_networks(opt("trusted_networks", [])),
                inbound_username=opt("inbound_username", None), inbound_password=inbound_pw,
                options_interval_s=float(t.options_interval_s),
                no_provisional_s=float(opt("no_provisional_s", 4.0)),
                rel100=opt("rel100", "supported"), session_expires_s=opt("session_expires_s", 1800),
                min_se_s=opt("min_se_s", 90), session_refresh=opt("session_refresh", "update")))
        return cls(bind=str(sip.bind), port=int(sip.port), user_agent=sip.user_agent,
                   realm=getattr(sip, "realm", "tdmgw"),
                   nat_contact=bool(getattr(sip, "nat_contact", False)), trunks=tuple(trunks))
