"""Protocol errors of the ISDN stack; each carries what to signal back.

`Q931Error` is the only exception the Q.931 decoders raise for remote input:
it carries the Q.850 cause (e.g. 95 invalid message, 96 mandatory IE missing,
100 invalid IE contents) and the diagnostic octets, plus whether Q.931 5.8
says to ignore the message silently rather than answer it.
"""

from __future__ import annotations


class IsdnError(Exception):
    """Base of the ISDN stack's own errors."""


class Q931Error(IsdnError):
    """A Q.931 message that cannot be accepted (Q.931 5.8).

    `cause` is the Q.850 cause value to send back, `diagnostic` the octets
    for the cause IE's diagnostics field (e.g. the IE identifier, Q.850 2.2.8),
    `ignore` True where Q.931 5.8.1-5.8.3 say the message is to be ignored
    (protocol discriminator error, message too short, call reference error).
    """

    def __init__(self, cause: int, detail: str, *, diagnostic: bytes = b"",
                 ignore: bool = False) -> None:
        super().__init__(f"Q.931 error cause {cause}: {detail}")
        self.cause = cause
        self.detail = detail
        self.diagnostic = diagnostic
        self.ignore = ignore


class BerError(Q931Error):
    """A malformed BER/ROSE encoding inside a facility IE (cause 100)."""

    def __init__(self, detail: str) -> None:
        super().__init__(100, detail)


class Q921Error(IsdnError):
    """A LAPD frame that cannot be parsed (Q.921 5.8.5 invalid frame)."""
