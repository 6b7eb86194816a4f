"""pjsua2 as a SIP/RTP far end: `tests.peers.pjsua2_peer` (media mode), kept runnable
under this name for the tests here:

    python -m tests.appliance.media.pjsua2_peer SIP_URI WAV SECONDS TONE_HZ
"""

from __future__ import annotations

import sys

from tests.peers.pjsua2_peer import cli, media

__all__ = ["cli", "media"]

if __name__ == "__main__":
    cli(["media", *sys.argv[1:]])
