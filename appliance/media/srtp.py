"""SRTP (RFC 3711) with SDES keys (RFC 4568 a=crypto), through libsrtp (pylibsrtp).

`CryptoAttribute.parse("1 AES_CM_128_HMAC_SHA1_80 inline:...")` reads the
value of an SDP `a=crypto:` line (RFC 4568 s9.1 grammar; the `a=crypto:`
prefix is optional) and `str()` writes it back.  `generate()` makes a fresh
attribute with a random master key and salt, and `answer()` picks the first
offered line this gateway can do and builds the answer with the same tag
(RFC 4568 s5.1.2, s7.1.1).  `SrtpContext(local, remote)` protects outgoing
RTP/RTCP with our key and unprotects incoming packets with the far end's,
and raises `SrtpError` for anything that fails authentication or replay
checks (dropped and counted by the caller).

Suites (RFC 4568 s6.2, RFC 7714 s14.2): AES_CM_128_HMAC_SHA1_80,
AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM, AEAD_AES_256_GCM.
Limits: one master key per direction, no MKI (libsrtp's Python binding has
no MKI), no key lifetime shorter than the session, and none of the
UNENCRYPTED_*/UNAUTHENTICATED_SRTP, KDR, FEC or WSH session parameters: an
offer that needs them is not chosen, so a call with only such offers gets
488 from the SIP layer.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

import pylibsrtp


class SrtpError(ValueError):
    """A packet failed SRTP processing (authentication, replay, malformed)."""


class CryptoError(ValueError):
    """An a=crypto attribute that is malformed or not supported (answer 488)."""


# suite -> (libsrtp profile, master key + salt length in bytes)
SUITES: dict[str, tuple[int, int]] = {
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30),
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AEAD_AES_256_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
}
PREFERENCE = ("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM", "AEAD_AES_256_GCM", "AES_CM_128_HMAC_SHA1_32")

_LINE = re.compile(r"^(?:a=crypto:)?(\d{1,9})\s+([A-Za-z0-9_]+)\s+(\S+)((?:\s+\S+)*)\s*$")


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """One a=crypto line with a single inline key (RFC 4568 s4, s6.1)."""

    tag: int
    suite: str
    key: bytes  # master key || master salt
    lifetime: str | None = None  # as written ("2^20" or decimal)
    mki: tuple[int, int] | None = None  # (value, length in bytes)
    session_params: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> CryptoAttribute:
        m = _LINE.match(text.strip())
        if not m:
            raise CryptoError(f"not an a=crypto attribute: {text!r}")
        tag, suite, keyparams, rest = m.group(1), m.group(2), m.group(3), m.group(4)
        keys = keyparams.split(";")
        if len(keys) != 1:
            raise CryptoError("more than one key in a=crypto is not supported")
        if not keys[0].startswith("inline:"):
            raise CryptoError(f"key method {keys[0].split(':')[0]!r}: only 'inline' exists (RFC 4568 s6.1)")
        parts = keys[0][len("inline:") :].split("|")
        try:
            key = base64.b64decode(parts[0], validate=True)
        except (binascii.Error, ValueError) as e:
            raise CryptoError(f"inline key is not base64: {e}") from None
        lifetime = None
        mki = None
        for p in parts[1:]:
            if ":" in p:
                v, _, ln = p.partition(":")
                if not (v.isdigit() and ln.isdigit() and 1 <= int(ln) <= 128):
                    raise CryptoError(f"bad MKI {p!r}")
                mki = (int(v), int(ln))
            elif re.fullmatch(r"(2\^\d{1,2}|\d{1,19})", p):
                lifetime = p
            else:
                raise CryptoError(f"bad key parameter {p!r}")
        if suite in SUITES and len(key) != SUITES[suite][1]:
            raise CryptoError(f"{suite} needs {SUITES[suite][1]} bytes of key and salt, got {len(key)}")
        return cls(int(tag), suite, key, lifetime, mki, tuple(rest.split()))

    def __str__(self) -> str:
        inline = "inline:" + base64.b64encode(self.key).decode()
        if self.lifetime:
            inline += "|" + self.lifetime
        if self.mki:
            inline += f"|{self.mki[0]}:{self.mki[1]}"
        return " ".join([str(self.tag), self.suite, inline, *self.session_params])

    @property
    def supported(self) -> bool:
        return self.suite in SUITES and self.mki is None and not self.session_params


def generate(tag: int = 1, suite: str = PREFERENCE[0]) -> CryptoAttribute:
    """A fresh attribute with a random master key and salt (RFC 4568 s6.1, s10)."""
    if suite not in SUITES:
        raise CryptoError(f"unsupported suite {suite}")
    return CryptoAttribute(tag, suite, os.urandom(SUITES[suite][1]))


def offer(suites: tuple[str, ...] = PREFERENCE[:2]) -> list[CryptoAttribute]:
    """Our offer: one line per suite, tags 1.., preferred first."""
    return [generate(i + 1, s) for i, s in enumerate(suites)]


def answer(offers: list[CryptoAttribute]) -> tuple[CryptoAttribute, CryptoAttribute]:
    """(the offer accepted, our answer line) per RFC 4568 s7.1.1; CryptoError when none fits."""
    for o in offers:
        if o.supported:
            return o, generate(o.tag, o.suite)
    raise CryptoError("no offered a=crypto line is supported: " + ", ".join(o.suite for o in offers))


def _policy(attr: CryptoAttribute, inbound: bool) -> pylibsrtp.Policy:
    if not attr.supported:
        raise CryptoError(f"unsupported a=crypto: {attr.suite}")
    p = pylibsrtp.Policy(
        key=attr.key,
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound else pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=SUITES[attr.suite][0],
    )
    return p


class SrtpContext:
    """Both directions of one SRTP session (RFC 3711 s3.3, s3.4)."""

    def __init__(self, local: CryptoAttribute, remote: CryptoAttribute) -> None:
        self.local = local
        self.remote = remote
        self._tx = pylibsrtp.Session(_policy(local, inbound=False))
        self._rx = pylibsrtp.Session(_policy(remote, inbound=True))
        self.auth_failures = 0
        self.replays = 0

    def protect(self, rtp: bytes) -> bytes:
        return bytes(self._tx.protect(rtp))

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        return bytes(self._tx.protect_rtcp(rtcp))

    def unprotect(self, srtp: bytes) -> bytes:
        try:
            return bytes(self._rx.unprotect(srtp))
        except (pylibsrtp.Error, ValueError) as e:
            self._count(e)
            raise SrtpError(f"SRTP: {e}") from None

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        try:
            return bytes(self._rx.unprotect_rtcp(srtcp))
        except (pylibsrtp.Error, ValueError) as e:
            self._count(e)
            raise SrtpError(f"SRTCP: {e}") from None

    def _count(self, e: Exception) -> None:
        if "replay" in str(e):
            self.replays += 1
        else:
            self.auth_failures += 1
