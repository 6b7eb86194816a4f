"""Small helpers over sippy's message classes: exact headers, header values, bodies.

No sippy event-loop import here (safe in any thread).
"""

from __future__ import annotations

from typing import Any

from sippy.SipContact import SipContact
from sippy.SipGenericHF import SipGenericHF
from sippy.SipHeader import SipHeader

from appliance.interwork.causes import reason_text

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO"


class RawHF(SipGenericHF):  # type: ignore[misc]
    """A header written exactly as given, name spelling included."""

    def __init__(self, body: str, name: str) -> None:
        super().__init__(body, name)
        self.canon = name

    def getCanName(self, name: str, compact: bool = False) -> str:
        return self.canon

    def getCopy(self) -> RawHF:
        return RawHF(self.body, self.canon)


def header(name: str, value: str) -> Any:
    return SipHeader(name=name.lower(), body=RawHF(value, name))


def values(msg: Any, name: str) -> list[str]:
    """Every value of header `name` as text (sippy splits comma lists into several)."""
    lname = name.lower()
    return [str(h.body) for h in msg.headers if h.name == lname]


def all_headers(msg: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for h in msg.headers:
        out.setdefault(h.name, []).append(str(h.body))
    return out


def contact(user: str) -> Any:
    """Our Contact: the socket's address (sippy fills it in when sending), no display name."""
    c = SipContact()
    c.getUri().name = None
    c.getUrl().username = user or None
    return c


def body_text(msg_or_body: Any) -> str | None:
    body = msg_or_body.getBody() if hasattr(msg_or_body, "getBody") else msg_or_body
    if body is None:
        return None
    return str(body.localStr()) if hasattr(body, "localStr") else str(body)


def status_text(status: int) -> str:
    return {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
            410: "Gone", 480: "Temporarily Unavailable", 484: "Address Incomplete",
            486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
            500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Server Time-out", 600: "Busy Everywhere",
            603: "Decline", 604: "Does Not Exist Anywhere"}.get(status, reason_text(0))
