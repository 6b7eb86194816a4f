"""Trunk security for inbound requests: trusted source networks, digest auth, logging.

What: an INVITE is accepted when its source address is in a trunk's trusted
networks, or when it carries digest credentials (RFC 3261 s22.4, RFC 2617
s3.2.2, RFC 7616 s3.4) for a trunk's inbound user; anything else is refused
with 403 (no trunk takes digest) or a 401 challenge.  Every refusal is logged
with its source, through a rate limiter so a scanner cannot flood the journal.

How: nonces are `hex(time) ":" HMAC-SHA256(secret, time ":" realm)`, checked
without a table of issued nonces; a nonce older than `nonce_lifetime_s` is
answered with `stale=true` (RFC 7616 s3.3).  Replays are refused (RFC 7616
s3.3, s5.12): for each nonce that carried valid credentials the highest
nonce count (nc) accepted is remembered, and credentials whose nc is not
above it get a 401 with a fresh challenge; without qop there is no nc, so such
a nonce is good for one request.  The memory is bounded: entries go when their
nonce is stale, and only valid credentials create them.  The secret is new at
each start, so nonces issued before a restart are not accepted after it.
Digest responses are checked with hashlib and `hmac.compare_digest`; MD5 and
SHA-256, qop "auth" or none.  Time is injected (`now`).

Limits: qop auth-int is refused; a second worker process would need the nc
table shared (there is one SIP endpoint per gateway).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class InboundPeer:
    """Who may send a trunk INVITEs: source networks and/or a digest account."""

    trunk: str
    networks: tuple[IpNetwork, ...] = ()
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class Verdict:
    """The decision on one request: a trunk, or the status (and challenge) to send."""

    trunk: str | None
    status: int = 0
    reason: str = ""
    challenge: str | None = None
    why: str = ""

    @property
    def accepted(self) -> bool:
        return self.trunk is not None


def parse_networks(items: Iterable[str]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(i, strict=False) for i in items)


def _h(algorithm: str, text: str) -> str:
    name = "sha256" if algorithm.upper().startswith("SHA-256") else "md5"
    return hashlib.new(name, text.encode()).hexdigest()


def digest_response(algorithm: str, username: str, realm: str, password: str, method: str,
                    uri: str, nonce: str, qop: str | None = None, nc: str = "",
                    cnonce: str = "") -> str:
    """RFC 7616 s3.4.1 / RFC 2617 s3.2.2.1: the request-digest a client computes."""
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = _h(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def parse_auth_params(value: str) -> dict[str, str]:
    """`Digest a="b", c=d` -> {"a": "b", "c": "d"}; names lower-cased."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"authorization scheme {scheme!r} is not Digest")
    out: dict[str, str] = {}
    i = 0
    n = len(rest)
    while i < n:
        while i < n and rest[i] in " ,\t":
            i += 1
        j = rest.find("=", i)
        if j < 0:
            break
        name = rest[i:j].strip().lower()
        i = j + 1
        if i < n and rest[i] == '"':
            k = i + 1
            buf = []
            while k < n and rest[k] != '"':
                if rest[k] == "\\" and k + 1 < n:
                    k += 1
                buf.append(rest[k])
                k += 1
            if k >= n:
                raise ValueError("unterminated quoted string in credentials")
            out[name] = "".join(buf)
            i = k + 1
        else:
            k = rest.find(",", i)
            k = n if k < 0 else k
            out[name] = rest[i:k].strip()
            i = k
    return out


@dataclass
class Gatekeeper:
    """Decides on inbound INVITEs (and other dialog-creating requests)."""

    peers: list[InboundPeer]
    realm: str = "tdmgw"
    nonce_lifetime_s: float = 300.0
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    max_nonces: int = 65536
    _nc: dict[str, tuple[float, int]] = field(default_factory=dict)  # nonce -> (issued, nc)

    def by_source(self, host: str) -> str | None:
        try:
            addr = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
        for peer in self.peers:
            if any(addr in net for net in peer.networks):
                return peer.trunk
        return None

    def nonce(self, now: float) -> str:
        stamp = f"{int(now * 1000):x}"
        mac = hmac.new(self.secret, f"{stamp}:{self.realm}".encode(), "sha256").hexdigest()[:32]
        return f"{stamp}:{mac}"

    def _nonce_state(self, nonce: str, now: float) -> str:
        stamp, _, mac = nonce.partition(":")
        want = hmac.new(self.secret, f"{stamp}:{self.realm}".encode(), "sha256").hexdigest()[:32]
        if not hmac.compare_digest(mac, want):
            return "forged"
        try:
            issued = int(stamp, 16) / 1000.0
        except ValueError:
            return "forged"
        return "stale" if now - issued > self.nonce_lifetime_s or issued > now + 1 else "fresh"

    def challenge(self, now: float, *, stale: bool = False) -> str:
        value = f'Digest realm="{self.realm}", nonce="{self.nonce(now)}", qop="auth", algorithm=MD5'
        return value + (", stale=true" if stale else "")

    def check(self, source_host: str, method: str, authorization: str | None,
              now: float) -> Verdict:
        """Source trust first, then digest; the refusal says what to send (RFC 3261 s22)."""
        trunk = self.by_source(source_host)
        if trunk is not None:
            return Verdict(trunk)
        accounts = [p for p in self.peers if p.username and p.password is not None]
        if not accounts:
            return Verdict(None, 403, "Forbidden", why=f"source {source_host} is not a trusted peer")
        if authorization is None:
            return Verdict(None, 401, "Unauthorized", self.challenge(now),
                           why=f"source {source_host} untrusted, no credentials")
        try:
            p = parse_auth_params(authorization)
        except ValueError as exc:
            return Verdict(None, 400, "Bad Request", why=f"bad credentials: {exc}")
        user = p.get("username", "")
        peer = next((a for a in accounts if a.username == user), None)
        if peer is None or peer.password is None:
            return Verdict(None, 403, "Forbidden", why=f"unknown digest user {user!r}")
        if p.get("realm") != self.realm:
            return Verdict(None, 401, "Unauthorized", self.challenge(now),
                           why=f"realm {p.get('realm')!r} is not ours")
        nonce = p.get("nonce", "")
        state = self._nonce_state(nonce, now)
        if state == "forged":
            return Verdict(None, 401, "Unauthorized", self.challenge(now),
                           why=f"nonce not issued here (user {user!r})")
        qop = p.get("qop") or None
        if qop not in (None, "auth"):
            return Verdict(None, 401, "Unauthorized", self.challenge(now),
                           why=f"qop {qop!r} not supported")
        algorithm = p.get("algorithm", "MD5")
        if algorithm.upper() not in ("MD5", "MD5-SESS", "SHA-256", "SHA-256-SESS"):
            return Verdict(None, 401, "Unauthorized", self.challenge(now),
                           why=f"algorithm {algorithm!r} not supported")
        want = digest_response(algorithm, user, self.realm, peer.password, method,
                               p.get("uri", ""), p.get("nonce", ""), qop, p.get("nc", ""),
                               p.get("cnonce", ""))
        if not hmac.compare_digest(want, p.get("response", "").lower()):
            return Verdict(None, 403, "Forbidden", why=f"wrong digest response for user {user!r}")
        if state == "stale":
            return Verdict(None, 401, "Unauthorized", self.challenge(now, stale=True),
                           why="stale nonce")
        if not self._count(nonce, qop, p.get("nc", ""), now):
            return Verdict(None, 401, "Unauthorized", self.challenge(now),
                           why=f"replayed credentials (nonce count {p.get('nc', '-')!r} "
                               f"already used, user {user!r})")
        return Verdict(peer.trunk)

    def _count(self, nonce: str, qop: str | None, nc_text: str, now: float) -> bool:
        """Remember this use of `nonce`; False when it is a replay (RFC 7616 s3.3)."""
        if qop is None:
            nc = 1  # no nonce count: the nonce is good once
        else:
            try:
                nc = int(nc_text, 16)
            except ValueError:
                return False
            if not 0 < nc <= 0xFFFFFFFF or len(nc_text) != 8:
                return False  # RFC 7616 s3.4: exactly 8 hex digits, counting from 1
        seen = self._nc.get(nonce)
        if seen is not None and nc <= seen[1]:
            return False
        issued = int(nonce.partition(":")[0], 16) / 1000.0
        self._nc[nonce] = (issued, nc)
        if len(self._nc) > self.max_nonces // 2:
            self._forget(now)
        return True

    def _forget(self, now: float) -> None:
        """Drop the counts of stale nonces; if still too many, the oldest half."""
        old = now - self.nonce_lifetime_s
        for k in [k for k, (t, _) in self._nc.items() if t < old]:
            del self._nc[k]
        if len(self._nc) > self.max_nonces:
            for k in sorted(self._nc, key=lambda k: self._nc[k][0])[: len(self._nc) // 2]:
                del self._nc[k]


@dataclass
class RateLimitedLog:
    """At most `burst` lines per key per `window_s`; the rest are counted and reported."""

    window_s: float = 60.0
    burst: int = 5
    _seen: dict[str, tuple[float, int, int]] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> tuple[bool, int]:
        """(log this line?, lines suppressed since the last logged one)."""
        start, count, dropped = self._seen.get(key, (now, 0, 0))
        if now - start >= self.window_s:
            start, count = now, 0
        if count < self.burst:
            self._seen[key] = (start, count + 1, 0)
            return True, dropped
        self._seen[key] = (start, count, dropped + 1)
        if len(self._seen) > 4096:  # a scan from many sources: forget the oldest windows
            for k in sorted(self._seen, key=lambda k: self._seen[k][0])[:2048]:
                del self._seen[k]
        return False, 0
