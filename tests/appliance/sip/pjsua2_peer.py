"""pjsua2 as a second SIP peer: `tests.peers.pjsua2_peer` (call / answer modes), kept
runnable under this name for the tests here:

    python -m tests.appliance.sip.pjsua2_peer call SIP_URI SECONDS
    python -m tests.appliance.sip.pjsua2_peer answer SECONDS
"""

from __future__ import annotations

import sys

from tests.peers.pjsua2_peer import answer, call, cli

__all__ = ["answer", "call", "cli"]

if __name__ == "__main__":
    cli(sys.argv[1:])
