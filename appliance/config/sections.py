"""The sections other than spans: sip, routes, cti, console, logging, health, media, runtime."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import HttpUrl, SecretStr, model_validator

from .fields import (
    NAME_PATTERN,
    Apply,
    HostPort,
    HostPortField,
    IpAddress,
    Regex,
    Section,
    rule_error,
    setting,
    setting_list,
)

DIGITS = r"^[0-9*#+]*$"


class SipTrunk(Section):
    """A SIP peer (the voice AI platform, or a proxy in front of it)."""

    name: str = setting(apply=Apply.LIVE, pattern=NAME_PATTERN, doc="Name that routes refer to.")
    host: str = setting(
        apply=Apply.LIVE, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:_-]+$",
        doc="Host name or IP address of the peer.",
    )
    port: int = setting(5060, apply=Apply.LIVE, ge=1, le=65535, doc="The peer's SIP port.")
    transport: Literal["udp"] = setting("udp", apply=Apply.LIVE, doc="SIP transport: `udp`.")
    username: str | None = setting(None, apply=Apply.LIVE, doc="Digest user name, if the peer asks.")
    password: SecretStr | None = setting(
        None, apply=Apply.LIVE, doc="Digest password (prefer `password_file`)."
    )
    password_file: Path | None = setting(
        None, apply=Apply.LIVE, doc="File holding the digest password (first line)."
    )
    realm: str | None = setting(None, apply=Apply.LIVE, doc="Digest realm; unset: the peer's.")
    options_interval_s: int = setting(
        30, apply=Apply.LIVE, ge=0, le=3600,
        doc="SIP OPTIONS keep-alive interval in seconds; 0 turns it off.",
    )
    max_calls: int = setting(
        0, apply=Apply.LIVE, ge=0, le=100000,
        doc="Most simultaneous calls on this trunk, both ways together; beyond it a PBX call "
        "is refused with cause 34 and an INVITE with 503; 0: no limit.",
    )
    failover: list[HostPortField] = setting_list(
        apply=Apply.LIVE, doc="Further targets (\"IP:port\") tried in order after `host`.",
    )
    trusted_networks: list[str] = setting_list(
        apply=Apply.LIVE,
        doc="Source networks (CIDR) whose INVITEs this trunk accepts; empty: the targets' IPs.",
    )
    inbound_username: str | None = setting(
        None, apply=Apply.LIVE, doc="Digest user an untrusted source must authenticate as.",
    )
    inbound_password: SecretStr | None = setting(
        None, apply=Apply.LIVE, doc="Digest password for `inbound_username`.",
    )
    registration: bool = setting(False, apply=Apply.LIVE, doc="Register with digest to `host`.")
    register_expires_s: int = setting(
        3600, apply=Apply.LIVE, ge=60, le=86400, doc="Expires asked for in REGISTER.",
    )
    no_provisional_s: float = setting(
        4.0, apply=Apply.LIVE, ge=0, le=32,
        doc="Fail over when a target sends no provisional response in this time; 0: Timer B.",
    )
    rel100: Literal["off", "supported", "required"] = setting(
        "supported", apply=Apply.LIVE, doc="100rel/PRACK (RFC 3262): off, supported or required.",
    )
    session_expires_s: int = setting(
        1800, apply=Apply.LIVE, ge=0, le=86400,
        doc="Session timer interval (RFC 4028) asked for; 0 turns session timers off.",
    )
    min_se_s: int = setting(90, apply=Apply.LIVE, ge=1, le=86400, doc="Smallest interval accepted.")
    session_refresh: Literal["update", "reinvite"] = setting(
        "update", apply=Apply.LIVE, doc="How we refresh: UPDATE (when allowed) or re-INVITE.",
    )
    domain: str | None = setting(
        None, apply=Apply.LIVE, pattern=r"^[A-Za-z0-9.:_-]+$",
        doc="Host part of From/PAI/Diversion URIs; unset: the trunk's host.",
    )
    country_code: str = setting(
        "1", apply=Apply.LIVE, pattern=r"^[0-9]{0,3}$", doc="For +E.164 numbers on this trunk.",
    )
    send_pai: bool = setting(True, apply=Apply.LIVE, doc="Send P-Asserted-Identity (RFC 3325).")
    trust_pai: bool = setting(True, apply=Apply.LIVE, doc="Take the caller from PAI when present.")
    redirection: Literal["diversion", "history-info", "both", "none"] = setting(
        "diversion", apply=Apply.LIVE, doc="Redirection header sent: Diversion and/or History-Info.",
    )
    trust_redirection: bool = setting(True, apply=Apply.LIVE, doc="Map received redirection headers.")
    send_uui: bool = setting(True, apply=Apply.LIVE, doc="Send User-to-User (RFC 7433).")
    trust_uui: bool = setting(True, apply=Apply.LIVE, doc="Map received User-to-User.")
    send_reason: bool = setting(True, apply=Apply.LIVE, doc="Send Reason with the Q.850 cause.")

    @model_validator(mode="after")
    def _networks(self) -> SipTrunk:
        for net in self.trusted_networks:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise rule_error([("trusted_networks", net, "a network like 192.0.2.0/24")]) from None
        if self.inbound_password is not None and not self.inbound_username:
            raise rule_error([("inbound_username", None, "a user name to go with inbound_password")])
        if self.registration and (not self.username or
                              (self.password is None and self.password_file is None)):
            raise rule_error([("registration", True, "username and password to register with")])
        return self

    @model_validator(mode="after")
    def _auth(self) -> SipTrunk:
        if self.password is not None and self.password_file is not None:
            raise rule_error([("password_file", str(self.password_file),
                               "either password or password_file, not both")])
        if (self.password is not None or self.password_file is not None) and not self.username:
            raise rule_error([("username", self.username, "a user name to go with the password")])
        return self


class SipConfig(Section):
    """The SIP side of the gateway."""

    bind: IpAddress = setting("0.0.0.0", apply=Apply.DAEMON, doc="Local address for SIP.")
    port: int = setting(5060, apply=Apply.DAEMON, ge=0, le=65535, doc="Local SIP UDP port.")
    transport: Literal["udp"] = setting("udp", apply=Apply.DAEMON, doc="SIP transport: `udp`.")
    user_agent: str = setting(
        "tdmgw", apply=Apply.LIVE, max_length=64, doc="User-Agent / Server header value."
    )
    realm: str = setting(
        "tdmgw", apply=Apply.LIVE, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
        doc="Digest realm of our challenges to inbound INVITEs.",
    )
    nat_contact: bool = setting(
        False, apply=Apply.DAEMON,
        doc="Send in-dialog requests to the source address when a peer's Contact is private (RFC 1918).",
    )
    trunks: list[SipTrunk] = setting_list(
        apply=Apply.LIVE, doc="`[[sip.trunks]]`: SIP peers that routes send calls to."
    )


class InboundRoute(Section):
    """A call from the PBX (ISDN SETUP) to a SIP trunk. First match wins."""

    name: str = setting(apply=Apply.LIVE, pattern=NAME_PATTERN, doc="Rule name, for logs.")
    match: Regex = setting(
        ".*", apply=Apply.LIVE, doc="Regular expression the called number must fully match."
    )
    calling: Regex | None = setting(
        None, apply=Apply.LIVE, doc="Optional regular expression for the calling number."
    )
    spans: list[str] = setting_list(
        apply=Apply.LIVE, doc="Span names this rule covers; empty: every span."
    )
    strip: int = setting(0, apply=Apply.LIVE, ge=0, le=32, doc="Leading digits removed.")
    prepend: str = setting("", apply=Apply.LIVE, pattern=DIGITS, doc="Digits put in front.")
    target: str = setting(apply=Apply.LIVE, pattern=NAME_PATTERN, doc="SIP trunk name to call.")


class OutboundRoute(Section):
    """A call from SIP (INVITE) to the PBX over a span. First match wins."""

    name: str = setting(apply=Apply.LIVE, pattern=NAME_PATTERN, doc="Rule name, for logs.")
    match: Regex = setting(
        ".*", apply=Apply.LIVE, doc="Regular expression the Request-URI user must fully match."
    )
    trunks: list[str] = setting_list(
        apply=Apply.LIVE, doc="SIP trunk names this rule accepts calls from; empty: any."
    )
    strip: int = setting(0, apply=Apply.LIVE, ge=0, le=32, doc="Leading digits removed.")
    prepend: str = setting("", apply=Apply.LIVE, pattern=DIGITS, doc="Digits put in front.")
    spans: list[str] = setting(
        apply=Apply.LIVE, min_length=1, doc="Span names to try, in order, for a free B-channel."
    )
    number_type: Literal["unknown", "international", "national", "subscriber"] = setting(
        "unknown", apply=Apply.LIVE, doc="Q.931 type of number for the called party (4.5.8)."
    )


class RoutesConfig(Section):
    """Call routing between spans and SIP trunks."""

    inbound: list[InboundRoute] = setting_list(
        apply=Apply.LIVE, doc="`[[routes.inbound]]`: PBX to SIP rules."
    )
    outbound: list[OutboundRoute] = setting_list(
        apply=Apply.LIVE, doc="`[[routes.outbound]]`: SIP to PBX rules."
    )
    early_disconnect_s: float = setting(
        30.0, apply=Apply.LIVE, ge=0, le=600,
        doc="A PBX DISCONNECT with progress indicator 8 before answer keeps the early media "
        "(an announcement) this long at most, then the call is cleared; 0: cleared at once.",
    )


class AmiConfig(Section):
    """Asterisk Manager Interface compatible event server."""

    enabled: bool = setting(False, apply=Apply.DAEMON, doc="Serve AMI.")
    listen: HostPortField = setting(
        HostPort("127.0.0.1", 5038), apply=Apply.DAEMON, doc="AMI TCP address."
    )
    username: str = setting("tdmgw", apply=Apply.LIVE, pattern=NAME_PATTERN, doc="AMI login.")
    secret_file: Path | None = setting(
        None, apply=Apply.LIVE, doc="File holding the AMI secret; required when enabled."
    )

    @model_validator(mode="after")
    def _secret(self) -> AmiConfig:
        if self.enabled and self.secret_file is None:
            raise rule_error([("secret_file", None, "a secret file when AMI is enabled")])
        return self


class WebSocketConfig(Section):
    """WebSocket event stream."""

    enabled: bool = setting(False, apply=Apply.DAEMON, doc="Serve the WebSocket stream.")
    listen: HostPortField = setting(
        HostPort("127.0.0.1", 8088), apply=Apply.DAEMON, doc="WebSocket TCP address."
    )
    path: str = setting("/events", apply=Apply.DAEMON, pattern=r"^/[A-Za-z0-9/_.-]*$",
                        doc="URL path of the stream.")


class Webhook(Section):
    """An HTTP endpoint that receives events as JSON POSTs."""

    url: HttpUrl = setting(apply=Apply.LIVE, doc="URL to POST events to.")
    events: list[str] = setting(
        ["*"], apply=Apply.LIVE, doc="Event kinds to send (`call.*`, `span.state`...); `*`: all."
    )
    timeout_ms: int = setting(2000, apply=Apply.LIVE, ge=100, le=30000, doc="Request timeout.")
    secret_file: Path | None = setting(
        None, apply=Apply.LIVE, doc="File with an HMAC-SHA256 key signing each body."
    )


class CtiConfig(Section):
    """The CTI process: events out of the core to AMI, WebSocket and webhooks."""

    event_socket: Path | None = setting(
        None, apply=Apply.DAEMON,
        doc="Unix datagram socket the CTI process receives core events on; "
        "unset: `cti.sock` in the runtime directory.",
    )
    queue: int = setting(
        4096, apply=Apply.DAEMON, ge=16, le=1_000_000,
        doc="Events the core holds for a CTI process that is slow; beyond it events are "
        "dropped and counted (the core never waits).",
    )
    ami: AmiConfig = setting(AmiConfig(), apply=Apply.DAEMON, doc="`[cti.ami]`.")
    websocket: WebSocketConfig = setting(
        WebSocketConfig(), apply=Apply.DAEMON, doc="`[cti.websocket]`."
    )
    webhooks: list[Webhook] = setting_list(apply=Apply.LIVE, doc="`[[cti.webhooks]]`.")


class ConsoleConfig(Section):
    """The local web console process."""

    listen: HostPortField = setting(
        HostPort("127.0.0.1", 8443), apply=Apply.DAEMON, doc="Console HTTPS address."
    )
    tls_cert: Path | None = setting(None, apply=Apply.DAEMON, doc="PEM certificate chain.")
    tls_key: Path | None = setting(None, apply=Apply.DAEMON, doc="PEM private key.")

    @model_validator(mode="after")
    def _tls_pair(self) -> ConsoleConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            missing = "tls_key" if self.tls_key is None else "tls_cert"
            raise rule_error([(missing, None, "tls_cert and tls_key together, or neither")])
        return self


class LoggingConfig(Section):
    """Logging to the journal (or stderr when there is none)."""

    level: Literal["debug", "info", "warning", "error"] = setting(
        "info", apply=Apply.LIVE, doc="Lowest level written."
    )
    journald: bool = setting(
        True, apply=Apply.DAEMON,
        doc="Write structured entries to journald; stderr lines when false or no journal runs.",
    )


class HealthConfig(Section):
    """The `GET /healthz` endpoint."""

    listen: HostPortField = setting(
        HostPort("127.0.0.1", 8089), apply=Apply.DAEMON,
        doc="Loopback address of the health endpoint; port 0 picks a free port.",
    )

    @model_validator(mode="after")
    def _loopback(self) -> HealthConfig:
        if not self.listen.is_loopback:
            raise rule_error([("listen", str(self.listen), "a loopback address (127.0.0.0/8, ::1)")])
        return self


class MediaConfig(Section):
    """The RTP media plane."""

    ptime_ms: Literal[10, 20, 30] = setting(20, apply=Apply.LIVE, doc="RTP packet time for new calls.")
    jitter_min_ms: int = setting(
        10, apply=Apply.LIVE, ge=0, le=500, doc="Smallest adaptive jitter buffer depth."
    )
    jitter_max_ms: int = setting(
        60, apply=Apply.LIVE, ge=1, le=1000, doc="Largest adaptive jitter buffer depth."
    )
    rtp_port_min: int = setting(10000, apply=Apply.DAEMON, ge=1024, le=65534, doc="First RTP port.")
    rtp_port_max: int = setting(20000, apply=Apply.DAEMON, ge=1025, le=65535, doc="Last RTP port.")
    processes: int = setting(
        0, apply=Apply.DAEMON, ge=0, le=64,
        doc="Media processes the spans are shared out over (each hosts its spans' clocks, "
        "B-channels and RTP; one that dies is restarted and its calls cleared); "
        "0 = auto: one per 4 spans, at most one per core.",
    )
    realtime_priority: int = setting(
        10, apply=Apply.DAEMON, ge=0, le=99,
        doc="SCHED_FIFO priority of the media processes and of the core's media thread (needs "
        "root or LimitRTPRIO, which the unit sets; if refused: a warning and normal scheduling; "
        "a media process whose blocks stop fitting in real time falls back to nice -10 by "
        "itself); 0 turns it off. `make bench BENCH=core` and `BENCH=media` measure why.",
    )

    @model_validator(mode="after")
    def _ranges(self) -> MediaConfig:
        p: list[tuple[str, Any, str]] = []
        if self.jitter_min_ms > self.jitter_max_ms:
            p.append(("jitter_min_ms", self.jitter_min_ms, f"at most jitter_max_ms ({self.jitter_max_ms})"))
        if self.rtp_port_max - self.rtp_port_min < 1:
            p.append(("rtp_port_max", self.rtp_port_max, f"above rtp_port_min ({self.rtp_port_min})"))
        if p:
            raise rule_error(p)
        return self


class RuntimeConfig(Section):
    """Where the processes meet, and how they watch each other."""

    dir: Path = setting(
        Path("/run/tdmgw"), apply=Apply.DAEMON,
        doc="Runtime directory holding the unix sockets (core.sock, cti.sock, console.sock).",
    )
    status_interval_ms: int = setting(
        500, apply=Apply.LIVE, ge=10, le=10000,
        doc="How often the core pushes its status snapshot to the console and CTI processes.",
    )
    heartbeat_timeout_ms: int = setting(
        3000, apply=Apply.LIVE, ge=100, le=60000,
        doc="A process whose heartbeat is older than this is reported as not alive.",
    )
    shutdown_timeout_ms: int = setting(
        4500, apply=Apply.LIVE, ge=100, le=4800,
        doc="Budget for the ordered shutdown on SIGTERM (calls, then spans); the process "
        "exits 0 within 5 s.",
    )

    @model_validator(mode="after")
    def _socket_paths(self) -> RuntimeConfig:
        # sun_path holds 108 bytes with its NUL (unix(7)).
        longest = len(str(self.dir / "console.sock").encode())
        if longest > 107:
            raise rule_error([("dir", str(self.dir), "a path short enough for unix sockets "
                               f"(socket paths would be {longest} bytes, at most 107)")])
        return self
