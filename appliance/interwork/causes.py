"""Q.850 cause values and their mapping to and from SIP status codes.

What: the default tables of RFC 3398 s7.2.4.1 (ISUP cause -> SIP response, used
for ISDN DISCONNECT/RELEASE toward a SIP INVITE still in progress) and s8.2.6.1
(SIP response -> ISUP cause, used when a SIP failure clears an ISDN call), with
per-trunk overrides, and the Q.850 location codes with their RFC 8606 tokens.

How: dictionaries; causes not in the RFC 3398 table fall back by Q.850 class
(s7.2.4.1, last paragraph: "normal event" 1-31 -> 480, "resource unavailable"
32-47 -> 503, "service not available" 48-63 -> 503 ... ) and SIP statuses not in
the table fall back by class (4xx -> 21... per s8.2.6.1, else 127 interworking).

Limits: cause 16 has no response mapping (a BYE or CANCEL is sent instead); a
caller asking for a response for it gets 480, as RFC 3398 notes for responses.
"""

from __future__ import annotations

from collections.abc import Mapping

from appliance.isdn.cause import CauseValue, Location

# RFC 8606 s3: tokens for the Reason header's `location` parameter.
LOCATION_TOKENS: Mapping[Location, str] = {
    Location.USER: "U",
    Location.PRIVATE_NETWORK_LOCAL_USER: "LPN",
    Location.PUBLIC_NETWORK_LOCAL_USER: "LN",
    Location.TRANSIT_NETWORK: "TN",
    Location.PUBLIC_NETWORK_REMOTE_USER: "RLN",
    Location.PRIVATE_NETWORK_REMOTE_USER: "RPN",
    Location.INTERNATIONAL_NETWORK: "INTL",
    Location.BEYOND_INTERWORKING_POINT: "BI",
}
LOCATION_BY_TOKEN: Mapping[str, Location] = {v: k for k, v in LOCATION_TOKENS.items()}

# RFC 3398 s7.2.4.1: ISUP (Q.850) cause -> SIP response.
CAUSE_TO_STATUS: Mapping[int, int] = {
    1: 404, 2: 404, 3: 404,
    17: 486, 18: 408, 19: 480, 20: 480, 21: 403, 22: 410, 23: 410,
    26: 404, 27: 502, 28: 484, 29: 501, 31: 480,
    34: 503, 38: 503, 41: 503, 42: 503, 47: 503,
    55: 403, 57: 403, 58: 503,
    65: 488, 70: 488, 79: 501,
    87: 403, 88: 503,
    102: 504, 111: 500, 127: 500,
}

# RFC 3398 s8.2.6.1: SIP response -> ISUP (Q.850) cause.
STATUS_TO_CAUSE: Mapping[int, int] = {
    400: 41, 401: 21, 402: 21, 403: 21, 404: 1, 405: 63, 406: 79, 407: 21,
    408: 102, 410: 22, 413: 127, 414: 127, 415: 79, 416: 127, 420: 127,
    421: 127, 423: 127, 480: 18, 481: 41, 482: 25, 483: 25, 484: 28, 485: 1,
    486: 17, 500: 41, 501: 79, 502: 38, 503: 41, 504: 102, 505: 127,
    513: 127, 600: 17, 603: 21, 604: 1,
}

# Responses RFC 3398 leaves to the Warning header (487 has no mapping at all:
# the caller cancelled); a gateway still has to signal something on ISDN.
STATUS_FALLBACK_CAUSE: Mapping[int, int] = {487: 16, 488: 65, 606: 65}

REASON_TEXT: Mapping[int, str] = {
    c.value: c.name.replace("_", " ").capitalize() for c in CauseValue
}


def status_for_cause(cause: int, overrides: Mapping[int, int] | None = None) -> int:
    """SIP final response for a Q.850 cause clearing a SIP call not yet answered.

    RFC 3398 s7.2.4.1, with `overrides` (per trunk) taking precedence; causes
    outside the table map by their Q.850 class.
    """
    if not 0 <= cause <= 127:
        raise ValueError(f"Q.850 cause {cause} is outside 0..127")
    if overrides and cause in overrides:
        return overrides[cause]
    if cause in CAUSE_TO_STATUS:
        return CAUSE_TO_STATUS[cause]
    if cause <= 31:
        return 480
    if cause <= 63:
        return 503
    if cause <= 79:
        return 501
    return 500


def cause_for_status(status: int, overrides: Mapping[int, int] | None = None) -> int:
    """Q.850 cause for a SIP final failure response (RFC 3398 s8.2.6.1)."""
    if not 300 <= status <= 699:
        raise ValueError(f"SIP status {status} is not a final failure (300..699)")
    if overrides and status in overrides:
        return overrides[status]
    if status in STATUS_TO_CAUSE:
        return STATUS_TO_CAUSE[status]
    if status in STATUS_FALLBACK_CAUSE:
        return STATUS_FALLBACK_CAUSE[status]
    if 300 <= status < 400:
        # A redirect the gateway did not follow: the number is elsewhere.
        return 23
    return 127


def reason_text(cause: int) -> str:
    """Human text for the Reason header's `text` parameter."""
    return REASON_TEXT.get(cause, f"Cause {cause}")
