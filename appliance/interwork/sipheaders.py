"""Call facts to SIP header values and back, per trunk policy.

What, and the clause each follows:
- calling party: From and P-Asserted-Identity (RFC 3325 s9.1) with Privacy: id
  (RFC 3323 s4.2) when presentation is restricted; restricted or unavailable
  numbers never reach From or its display name, which become
  "Anonymous" <sip:anonymous@anonymous.invalid> (RFC 3323 s4.1.1.3).  PAI is
  sent only for screened numbers (user provided verified and passed, or network
  provided); an unscreened number goes in From only, as Q.1912.5 s6.1.1 does.
- redirection: Diversion (RFC 5806) or History-Info (RFC 7044) with the RFC
  4458 `cause=` URI parameter on the retargeted entry, or both, or neither.
  The diversion count travels in Diversion's `counter` (the entries' counters
  add up to it) and comes back as their sum, or as the number of retargeted
  History-Info entries (capped at 15, ECMA-174's diversionCounter range).
- user-user: User-to-User (RFC 7433) with encoding=hex, purpose=isdn-uui and
  content=isdn-uui (RFC 7434 s5, s6); the hex data starts with the Q.931
  protocol discriminator octet, so it survives both ways.
- causes: Reason: Q.850;cause=N;text="..." (RFC 3326 s2, RFC 6432 s3) with the
  RFC 8606 `location` parameter.

How: SIP name-addr values are parsed with sippy's SipAddress; the Reason and
User-to-User values (plain parameter lists) with `split_params` below.

Limits: Q.850 diagnostics have no place in the Reason header; they stay in the
call's CTI facts.  Numbers are normalised between type of number and +E.164
with the trunk's country code: a national number gets "+<cc>" and an
international one "+", anything else passes as it is.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from sippy.SipAddress import SipAddress

from appliance.interwork.causes import LOCATION_BY_TOKEN, LOCATION_TOKENS, reason_text
from appliance.interwork.facts import (
    CauseFact,
    Name,
    NumberingPlan,
    Party,
    Presentation,
    Redirection,
    RedirectionReason,
    Screening,
    TypeOfNumber,
    UserToUser,
)
from appliance.isdn.cause import Location

_TEL = re.compile(r"^\s*(?:\"[^\"]*\"\s*)?<?tel:([^;>\s]+)", re.IGNORECASE)
ANONYMOUS_FROM = '"Anonymous" <sip:anonymous@anonymous.invalid>'
RedirectionHeader = Literal["diversion", "history-info", "both", "none"]


class HeaderError(ValueError):
    """A header value from the SIP peer that cannot be mapped (remote error)."""

    status = 400


@dataclass(frozen=True)
class TrunkPolicy:
    """Which headers a trunk sends and trusts (documented defaults)."""

    host: str = "tdmgw.invalid"
    country_code: str = "1"
    e164: bool = True
    send_pai: bool = True
    trust_pai: bool = True
    redirection: RedirectionHeader = "diversion"
    trust_redirection: bool = True
    send_uui: bool = True
    trust_uui: bool = True
    send_reason: bool = True


# RFC 5806 s4 reason tokens.
_DIVERSION_REASON: dict[int, str] = {
    RedirectionReason.UNKNOWN: "unknown",
    RedirectionReason.CALL_FORWARDING_BUSY: "user-busy",
    RedirectionReason.CALL_FORWARDING_NO_REPLY: "no-answer",
    RedirectionReason.DEFLECTION: "deflection",
    RedirectionReason.DTE_OUT_OF_ORDER: "out-of-service",
    RedirectionReason.CALL_FORWARDING_BY_CALLED_DTE: "follow-me",
    RedirectionReason.CALL_FORWARDING_UNCONDITIONAL: "unconditional",
}
_REASON_BY_DIVERSION: dict[str, int] = {v: k for k, v in _DIVERSION_REASON.items()}
_REASON_BY_DIVERSION.update({"unavailable": RedirectionReason.DTE_OUT_OF_ORDER,
                             "time-of-day": RedirectionReason.CALL_FORWARDING_UNCONDITIONAL,
                             "do-not-disturb": RedirectionReason.CALL_FORWARDING_UNCONDITIONAL,
                             "away": RedirectionReason.CALL_FORWARDING_UNCONDITIONAL})
# RFC 4458 s3.5 cause values.
_HI_CAUSE: dict[int, int] = {
    RedirectionReason.UNKNOWN: 404,
    RedirectionReason.CALL_FORWARDING_BUSY: 486,
    RedirectionReason.CALL_FORWARDING_NO_REPLY: 408,
    RedirectionReason.CALL_FORWARDING_UNCONDITIONAL: 302,
    RedirectionReason.DEFLECTION: 480,
    RedirectionReason.CALL_FORWARDING_BY_CALLED_DTE: 487,
    RedirectionReason.DTE_OUT_OF_ORDER: 503,
}
_REASON_BY_HI_CAUSE: dict[int, int] = {v: k for k, v in _HI_CAUSE.items()}


# ---------------------------------------------------------------- numbers

def uri_user(party: Party, policy: TrunkPolicy) -> str:
    """The URI user part for a number: +E.164 where type of number allows."""
    digits = party.digits
    if not policy.e164 or party.plan not in (NumberingPlan.ISDN_E164, NumberingPlan.UNKNOWN):
        return digits
    if party.type == TypeOfNumber.INTERNATIONAL:
        return "+" + digits
    if party.type == TypeOfNumber.NATIONAL:
        return "+" + policy.country_code + digits
    return digits


def party_from_user(user: str, policy: TrunkPolicy, *,
                    presentation: int = Presentation.ALLOWED,
                    screening: int = Screening.USER_NOT_SCREENED) -> Party:
    """A number IE's contents for a URI user part (the reverse of `uri_user`)."""
    user = unquote(user).split(";", 1)[0]
    digits = re.sub(r"[-.()]", "", user)
    if digits.startswith("+"):
        rest = digits[1:]
        if not rest.isdigit():
            raise HeaderError(f"number {user!r} is not +E.164 digits")
        if policy.country_code and rest.startswith(policy.country_code):
            return Party(rest[len(policy.country_code):], TypeOfNumber.NATIONAL,
                         NumberingPlan.ISDN_E164, presentation, screening)
        return Party(rest, TypeOfNumber.INTERNATIONAL, NumberingPlan.ISDN_E164, presentation, screening)
    if not re.fullmatch(r"[0-9*#]*", digits):
        raise HeaderError(f"number {user!r} is not dialable digits")
    return Party(digits, TypeOfNumber.UNKNOWN, NumberingPlan.ISDN_E164, presentation, screening)


def _uri(user: str, policy: TrunkPolicy, *, phone: bool = True) -> str:
    tail = ";user=phone" if phone and user[:1] == "+" else ""
    return f"sip:{quote(user, safe='+*#')}@{policy.host}{tail}"


def _display(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------- identity

def identity_headers(calling: Party | None, name: Name | None,
                     policy: TrunkPolicy) -> list[tuple[str, str]]:
    """From, P-Asserted-Identity and Privacy for a call toward SIP."""
    if calling is None or not calling.digits or calling.presentation == Presentation.NOT_AVAILABLE:
        return [("From", ANONYMOUS_FROM)]
    shown_name = name.text if name and name.presentation == Presentation.ALLOWED else None
    uri = _uri(uri_user(calling, policy), policy)
    named = f"{_display(shown_name)} <{uri}>" if shown_name else f"<{uri}>"
    screened = calling.screening in (Screening.USER_VERIFIED_PASSED, Screening.NETWORK_PROVIDED)
    out: list[tuple[str, str]] = []
    if calling.restricted:
        out.append(("From", ANONYMOUS_FROM))
        if policy.send_pai and screened:
            # RFC 3325 s7: the identity travels to the trusted peer, hidden by Privacy.
            out.append(("P-Asserted-Identity", f"<{uri}>"))
        out.append(("Privacy", "id"))
        return out
    out.append(("From", named))
    if policy.send_pai and screened:
        out.append(("P-Asserted-Identity", named))
    return out


def parse_identity(from_value: str, pai_values: list[str], privacy: str | None,
                   policy: TrunkPolicy) -> tuple[Party | None, Name | None]:
    """Calling party number and name for ISDN from From, PAI and Privacy."""
    privacy_tokens = {t.strip().lower() for t in (privacy or "").split(";") if t.strip()}
    hidden = bool(privacy_tokens & {"id", "user", "header", "session", "critical"})
    source: SipAddress | None = None
    screening: int = Screening.USER_NOT_SCREENED
    if policy.trust_pai:
        for value in pai_values:
            for item in split_list(value):
                tel = _TEL.search(item)
                if tel:
                    # sippy parses no tel: URIs (RFC 3966); PAI often carries one.
                    number = tel.group(1)
                    party = party_from_user(number, policy, screening=Screening.USER_VERIFIED_PASSED,
                                            presentation=Presentation.RESTRICTED if hidden
                                            else Presentation.ALLOWED)
                    from_addr = _address(from_value)
                    display = from_addr.name
                    name = None
                    if display and display.lower() != "anonymous":
                        name = Name(display, Presentation.RESTRICTED if hidden
                                    else Presentation.ALLOWED)
                    return party, name
                addr = _address(item)
                if _user_of(addr):
                    source, screening = addr, Screening.USER_VERIFIED_PASSED
                    break
            if source is not None:
                break
    from_addr = _address(from_value)
    if source is None:
        source = from_addr
    user = _user_of(source)
    anonymous = user.lower() in ("anonymous", "") or source.url.host == "anonymous.invalid"
    presentation = Presentation.RESTRICTED if hidden else Presentation.ALLOWED
    if anonymous:
        # Q.931 4.5.8: no digits, and why: hidden by the caller, or not available.
        if hidden:
            return Party("", TypeOfNumber.UNKNOWN, NumberingPlan.UNKNOWN,
                         Presentation.RESTRICTED, screening), None
        return Party("", TypeOfNumber.UNKNOWN, NumberingPlan.UNKNOWN,
                     Presentation.NOT_AVAILABLE, Screening.NETWORK_PROVIDED), None
    party = party_from_user(user, policy, presentation=presentation, screening=screening)
    display = from_addr.name or source.name
    name = None
    if display and display.lower() != "anonymous":
        name = Name(display, Presentation.RESTRICTED if hidden else Presentation.ALLOWED)
    return party, name


# ---------------------------------------------------------------- redirection

def redirection_headers(redir: Redirection | None, called: Party | None,
                        policy: TrunkPolicy) -> list[tuple[str, str]]:
    """Diversion and/or History-Info headers for a redirected call toward SIP."""
    if redir is None or policy.redirection == "none" or not redir.redirecting.digits:
        return []  # (no redirecting number to name in a URI: ISDN said "not available")
    out: list[tuple[str, str]] = []
    if policy.redirection in ("diversion", "both"):
        out.extend(("Diversion", v) for v in _diversion_values(redir, policy))
    if policy.redirection in ("history-info", "both"):
        out.append(("History-Info", _history_info_value(redir, called, policy)))
    return out


def _diversion_values(redir: Redirection, policy: TrunkPolicy) -> list[str]:
    # RFC 5806 s3: the most recent diversion first.
    # RFC 5806 s4: each entry's counter is the diversions it stands for; with a
    # known total count the entries together carry it (the most recent the rest).
    def one(p: Party, reason: int, counter: int) -> str:
        params = f";reason={_DIVERSION_REASON.get(reason, 'unknown')};counter={counter}"
        if p.restricted:
            params += ";privacy=full"
        return f"<{_uri(uri_user(p, policy), policy)}>{params}"

    orig = redir.original_called
    two = orig is not None and bool(orig.digits) and orig.digits != redir.redirecting.digits
    total = redir.count or (2 if two else 1)
    values = [one(redir.redirecting, redir.reason, max(1, total - 1) if two else total)]
    if two:
        assert orig is not None
        values.append(one(orig, redir.original_reason
                          if redir.original_reason is not None else RedirectionReason.UNKNOWN, 1))
    return values


def _history_info_value(redir: Redirection, called: Party | None, policy: TrunkPolicy) -> str:
    chain: list[tuple[Party, int | None]] = []
    orig = redir.original_called
    if orig is not None and orig.digits and orig.digits != redir.redirecting.digits:
        chain.append((orig, redir.original_reason if redir.original_reason is not None
                      else RedirectionReason.UNKNOWN))
    chain.append((redir.redirecting, redir.reason))
    entries: list[str] = []
    index = "1"
    for i, (party, _) in enumerate(chain):
        uri = _uri(uri_user(party, policy), policy)
        if party.restricted:
            uri += "?Privacy=history"
        params = f";index={index}"
        if i > 0:
            cause = _HI_CAUSE.get(chain[i - 1][1] or 0, 404)
            uri = uri.replace("?", f";cause={cause}?", 1) if "?" in uri else f"{uri};cause={cause}"
            params += ";mp=" + index.rsplit(".", 1)[0]
        entries.append(f"<{uri}>{params}")
        index += ".1"
    if called is not None:
        cause = _HI_CAUSE.get(redir.reason, 404)
        uri = _uri(uri_user(called, policy), policy) + f";cause={cause}"
        entries.append(f"<{uri}>;index={index};mp={index.rsplit('.', 1)[0]}")
    return ",".join(entries)


def parse_redirection(diversion: list[str], history_info: list[str],
                      policy: TrunkPolicy) -> Redirection | None:
    """Redirecting and original called numbers from Diversion or History-Info."""
    if not policy.trust_redirection:
        return None
    items = [i for v in diversion for i in split_list(v)]
    if items:
        parties: list[tuple[Party, int]] = []
        count = 0
        for item in items:
            addr = _address(item)
            restricted = (addr.getParam("privacy") or "off").lower() in ("full", "uri")
            party = party_from_user(_user_of(addr), policy, presentation=(
                Presentation.RESTRICTED if restricted else Presentation.ALLOWED))
            reason = _REASON_BY_DIVERSION.get((addr.getParam("reason") or "unknown").lower(),
                                              RedirectionReason.UNKNOWN)
            parties.append((party, reason))
            counter = (addr.getParam("counter") or "1").strip()
            count += int(counter) if counter.isdigit() and int(counter) > 0 else 1
        last, reason = parties[0]
        first, first_reason = parties[-1]
        return Redirection(last, reason, first if len(parties) > 1 else None,
                           first_reason if len(parties) > 1 else None, min(count, 15))
    entries = [i for v in history_info for i in split_list(v)]
    if len(entries) < 2:
        return None
    parsed: list[tuple[str, SipAddress]] = []
    for item in entries:
        addr = _address(item)
        parsed.append((addr.getParam("index") or "", addr))
    parsed.sort(key=lambda e: [int(x) for x in e[0].split(".") if x.isdigit()])
    # Each retargeted entry's cause= says why the entry before it was left.
    hops: list[tuple[Party, int]] = []
    for (_, prev), (_, nxt) in itertools.pairwise(parsed):
        cause = _uri_param(nxt, "cause")
        reason = (_REASON_BY_HI_CAUSE.get(int(cause), RedirectionReason.UNKNOWN)
                  if cause and cause.isdigit() else RedirectionReason.UNKNOWN)
        hidden = "Privacy" in (prev.url.headers or {})
        hops.append((party_from_user(_user_of(prev), policy, presentation=(
            Presentation.RESTRICTED if hidden else Presentation.ALLOWED)), reason))
    last, reason = hops[-1]
    first, first_reason = hops[0]
    # RFC 7044 s9: every retargeting adds an entry, so the hops are the count.
    if len(hops) == 1:
        return Redirection(last, reason, count=1)
    return Redirection(last, reason, first, first_reason, min(len(hops), 15))


# ---------------------------------------------------------------- user-user

def uui_header(uui: UserToUser) -> str:
    """RFC 7433 s4.1 / RFC 7434 s5: the ISDN UUI package, hex with the PD first."""
    data = bytes([uui.protocol]) + uui.data
    return f"{data.hex()};encoding=hex;purpose=isdn-uui;content=isdn-uui"


def parse_uui(values: list[str], policy: TrunkPolicy) -> UserToUser | None:
    """The first User-to-User value of the isdn-uui package (or with no purpose)."""
    if not policy.trust_uui:
        return None
    for value in values:
        for item in split_list(value):
            data, params = split_params(item)
            purpose = params.get("purpose", "isdn-uui").lower()
            if purpose != "isdn-uui":
                continue
            encoding = params.get("encoding", "hex").lower()
            if encoding != "hex":
                raise HeaderError(f"User-to-User encoding {encoding!r} is not hex (RFC 7433 s4.1)")
            data = data.strip().strip('"')
            if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", data):
                raise HeaderError(f"User-to-User data {data[:40]!r} is not an even run of hex")
            raw = bytes.fromhex(data)
            try:
                return UserToUser(raw[0], raw[1:])
            except ValueError as exc:
                raise HeaderError(str(exc)) from exc
    return None


# ---------------------------------------------------------------- causes

def reason_header(cause: CauseFact) -> str:
    """RFC 3326 / RFC 6432 Reason value, with the RFC 8606 location."""
    value = f'Q.850;cause={cause.value};text="{reason_text(cause.value)}"'
    try:
        token = LOCATION_TOKENS[Location(cause.location)]
    except ValueError:
        return value
    return value + f";location={token}"


def parse_reason(values: list[str]) -> CauseFact | None:
    """The Q.850 cause from Reason headers (the SIP-protocol ones are skipped)."""
    for value in values:
        for item in split_list(value):
            protocol, params = split_params(item)
            if protocol.strip().upper() != "Q.850":
                continue
            try:
                cause = int(params.get("cause", ""))
            except ValueError as exc:
                raise HeaderError(f"Reason {item!r} has no numeric cause") from exc
            if not 0 <= cause <= 127:
                raise HeaderError(f"Reason cause {cause} is outside Q.850's 0..127")
            loc = LOCATION_BY_TOKEN.get(params.get("location", "").upper(), Location.USER)
            return CauseFact(cause, int(loc))
    return None


# ---------------------------------------------------------------- helpers

def split_list(value: str) -> list[str]:
    """Split a header value on top-level commas (not inside quotes or <...>)."""
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    if quoted or depth:
        raise HeaderError(f"unbalanced quote or angle bracket in {value[:60]!r}")
    tail = value[start:].strip()
    if tail:
        out.append(tail)
    return [v for v in out if v]


def split_params(value: str) -> tuple[str, dict[str, str]]:
    """`head;name=value;flag` -> ("head", {"name": "value", "flag": ""}), quotes kept out."""
    parts: list[str] = []
    quoted = False
    cur = ""
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    params: dict[str, str] = {}
    for p in parts[1:]:
        name, _, val = p.partition("=")
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        params[name.strip().lower()] = val
    return parts[0].strip(), params


def _address(value: str) -> SipAddress:
    try:
        return SipAddress(value.strip())
    except Exception as exc:  # sippy raises bare exceptions on bad input
        raise HeaderError(f"not a SIP name-addr: {value[:60]!r}") from exc


def _user_of(addr: SipAddress) -> str:
    url = addr.url
    if getattr(url, "scheme", "sip") == "tel":
        return str(getattr(url, "username", "") or getattr(url, "host", ""))
    return str(url.username or "")


def _uri_param(addr: SipAddress, name: str) -> str | None:
    for item in getattr(addr.url, "other", []) or []:
        key, _, val = str(item).partition("=")
        if key.lower() == name:
            return val
    text = str(addr.url)
    m = re.search(rf";{name}=([^;?>]+)", text)
    return m.group(1) if m else None
