"""Call routing between spans and SIP trunks, and the numbers on the way (pure, no I/O).

What:
- inbound (a SETUP from the PBX): the first `[[routes.inbound]]` rule whose
  span list covers the span (empty: every span), whose `match` fully matches
  the called number's digits and whose optional `calling` matches the calling
  number's digits wins; `strip` leading digits are removed, `prepend` is put in
  front, and the result becomes the Request-URI user on the rule's trunk,
  normalised to +E.164 by the trunk's policy (`sipheaders.uri_user`: a national
  number gets "+<country code>", an international one "+").  A `prepend`
  starting with "+" is taken as already international.
- outbound (an INVITE from a SIP trunk): the first `[[routes.outbound]]` rule
  that accepts calls from the trunk (empty list: any) and whose `match` fully
  matches the Request-URI user as sent (before normalisation, "+15551234" or
  "2001") wins; the user is turned into a number IE's digits and type by the
  trunk's policy (`sipheaders.party_from_user`: "+<cc>..." is national,
  "+..." international, plain digits unknown), then `strip` / `prepend` apply
  to the digits, and the rule's `number_type` (if not "unknown") overrides the
  type of number (Q.931 4.5.8).  The rule's spans are tried in order for a free
  B-channel; hunting inside a span is the span's call control's (ascending,
  descending or round robin, `appliance.isdn.cc.channels`).
- per-trunk call limits (`TrunkSpec.max_calls`, 0: none) over both directions.

A call no rule takes is refused with Q.850 cause 1 "unallocated number" toward
the PBX (RFC 3398 s7.2.4.1 gives 404 for it toward SIP); a trunk at its limit
with cause 34 "no circuit/channel available" (503 toward SIP).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from appliance.interwork.facts import Party, TypeOfNumber
from appliance.interwork.sipheaders import HeaderError, TrunkPolicy, party_from_user, uri_user
from appliance.isdn.cause import CauseValue

_NUMBER_TYPES: Mapping[str, int | None] = {
    "unknown": None, "international": TypeOfNumber.INTERNATIONAL,
    "national": TypeOfNumber.NATIONAL, "subscriber": TypeOfNumber.SUBSCRIBER,
}


class NoRoute(Exception):
    """A call refused by routing: the Q.850 cause toward ISDN and the SIP status."""

    def __init__(self, why: str, cause: int = CauseValue.UNALLOCATED_NUMBER,
                 status: int = 404) -> None:
        super().__init__(why)
        self.why = why
        self.cause = int(cause)
        self.status = status


@dataclass(frozen=True)
class InboundRule:
    name: str
    match: re.Pattern[str]
    calling: re.Pattern[str] | None
    spans: frozenset[str]
    strip: int
    prepend: str
    target: str


@dataclass(frozen=True)
class OutboundRule:
    name: str
    match: re.Pattern[str]
    trunks: frozenset[str]
    strip: int
    prepend: str
    spans: tuple[str, ...]
    number_type: int | None


@dataclass(frozen=True)
class InboundDecision:
    """A PBX call goes to `trunk` with this Request-URI user."""

    rule: str
    trunk: str
    request_user: str


@dataclass(frozen=True)
class OutboundDecision:
    """A SIP call goes to the PBX over the first of `spans` with a free channel."""

    rule: str
    spans: tuple[str, ...]
    called: Party


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    return pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)


class Router:
    """The routing tables and the per-trunk call counts."""

    def __init__(self, inbound: Iterable[InboundRule], outbound: Iterable[OutboundRule],
                 policies: Mapping[str, TrunkPolicy], limits: Mapping[str, int] | None = None
                 ) -> None:
        self.inbound_rules = tuple(inbound)
        self.outbound_rules = tuple(outbound)
        self.policies = dict(policies)
        self.limits = dict(limits or {})
        self.active: dict[str, int] = {}

    @classmethod
    def from_config(cls, routes: Any, trunks: Iterable[Any], sip_trunks: Iterable[Any] = ()
                    ) -> Router:
        """From `RoutesConfig`, the endpoint's `TrunkSpec`s (name, policy) and the
        `[[sip.trunks]]` configuration (`max_calls`)."""
        ins = [InboundRule(r.name, _compile(r.match),
                           _compile(r.calling) if r.calling is not None else None,
                           frozenset(r.spans), r.strip, r.prepend, r.target)
               for r in routes.inbound]
        outs = [OutboundRule(r.name, _compile(r.match), frozenset(r.trunks),
                             r.strip, r.prepend, tuple(r.spans),
                             _NUMBER_TYPES[r.number_type])
                for r in routes.outbound]
        specs = list(trunks)
        return cls(ins, outs, {t.name: t.policy for t in specs},
                   {t.name: int(getattr(t, "max_calls", 0)) for t in sip_trunks})

    # ------------------------------------------------------------ lookups

    def inbound(self, span: str, called: Party | None, calling: Party | None) -> InboundDecision:
        """The route for a SETUP on `span` (NoRoute if none, or the trunk is full)."""
        digits = called.digits if called is not None else ""
        calling_digits = calling.digits if calling is not None else ""
        for r in self.inbound_rules:
            if r.spans and span not in r.spans:
                continue
            if r.match.fullmatch(digits) is None:
                continue
            if r.calling is not None and r.calling.fullmatch(calling_digits) is None:
                continue
            self._check_limit(r.target)
            rest = r.prepend + digits[r.strip:]
            if rest.startswith("+"):
                user = rest
            else:
                policy = self.policies.get(r.target, TrunkPolicy())
                base = called if called is not None else Party("")
                user = uri_user(Party(rest, base.type, base.plan), policy)
            return InboundDecision(r.name, r.target, user)
        raise NoRoute(f"no inbound route for called number {digits!r} on span {span}")

    def outbound(self, trunk: str, request_user: str) -> OutboundDecision:
        """The route for an INVITE from `trunk` (NoRoute if none, or the trunk is full)."""
        user = request_user.split(";", 1)[0]
        policy = self.policies.get(trunk, TrunkPolicy())
        for r in self.outbound_rules:
            if r.trunks and trunk not in r.trunks:
                continue
            if r.match.fullmatch(user) is None:
                continue
            self._check_limit(trunk)
            try:
                party = party_from_user(user, policy)
            except HeaderError as exc:
                raise NoRoute(f"Request-URI user {user!r}: {exc}",
                              CauseValue.INVALID_NUMBER_FORMAT, 484) from None
            digits = r.prepend + party.digits[r.strip:]
            ton = party.type if r.number_type is None else r.number_type
            return OutboundDecision(r.name, r.spans, Party(digits, ton, party.plan))
        raise NoRoute(f"no outbound route for {user!r} from trunk {trunk}")

    # ------------------------------------------------------------ limits

    def _check_limit(self, trunk: str) -> None:
        limit = self.limits.get(trunk, 0)
        if limit and self.active.get(trunk, 0) >= limit:
            raise NoRoute(f"trunk {trunk} is at its limit of {limit} call(s)",
                          CauseValue.NO_CIRCUIT_CHANNEL_AVAILABLE, 503)

    def acquire(self, trunk: str) -> None:
        """Count a call on `trunk` (after a route was found for it)."""
        self.active[trunk] = self.active.get(trunk, 0) + 1

    def release(self, trunk: str) -> None:
        n = self.active.get(trunk, 0) - 1
        if n <= 0:
            self.active.pop(trunk, None)
        else:
            self.active[trunk] = n
