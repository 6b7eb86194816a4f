"""The Digium/Sangoma T1/E1 cards tdmgw configures, as data.

Facts from the DAHDI Linux source in Debian's dahdi-source (driver names,
``ddev->devicetype`` strings, which drivers mark D-channels
``DAHDI_SIG_HARDHDLC``, which firmware files they ``request_firmware``) and
from dahdi-tools' ``Dahdi/Hardware/PCI.pm`` (PCI ids).  Sangoma bought
Digium in 2018; the TE cards sold under either name are the same hardware
and drivers.  Sangoma's own A10x/A20x cards use the out-of-tree wanpipe
driver and are not covered.

Firmware: Debian ships none of Digium's firmware files (they are not free
software).  The FPGA images of the TE820, TE13x and TE43x live in the
card's flash and the driver only uses the file to *update* the flash, so
those cards run without it.  The Octasic echo-canceller modules (VPMOCT
on TE2xx/TE4xx/TE8xx/TE13x, VPMADT032 on TE12x) load their firmware into
RAM at every start: without the file the hardware echo canceller is off,
which is what tdmgw wants anyway (it cancels echo itself), so the driver
can be loaded with ``vpmsupport=0``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Card:
    """One card family."""

    family: str  # TE1xx, TE2xx, TE4xx, TE8xx
    models: str  # human-readable model list
    driver: str  # DAHDI kernel module
    pattern: str  # regex on sysfs dahdi_devices/<dev>/type (ddev->devicetype)
    spans: int
    hardhdlc: bool  # D-channel HDLC in hardware (hardhdlc=) or DAHDI's (dchan=)
    fpga_firmware: tuple[str, ...] = ()  # only to update the card's flash
    vpm_firmware: tuple[str, ...] = ()  # echo canceller module, loaded at each start

    def matches(self, devicetype: str) -> bool:
        return re.search(self.pattern, devicetype) is not None

    @property
    def dchannel_keyword(self) -> str:
        return "hardhdlc" if self.hardhdlc else "dchan"


_OCT = ("dahdi-fw-oct6114-064.bin", "dahdi-fw-oct6114-128.bin", "dahdi-fw-oct6114-256.bin")

CARDS: tuple[Card, ...] = (
    Card("TE8xx", "TE820", "wct4xxp", r"\bTE820\b", 8, True,
         fpga_firmware=("dahdi-fw-te820.bin",), vpm_firmware=_OCT),
    Card("TE4xx", "TE405P, TE410P, TE420", "wct4xxp", r"\bTE4(05P|10P|20)\b|TE410P/TE405P", 4, True,
         vpm_firmware=_OCT),
    Card("TE4xx", "TE435, TE436", "wcte43x", r"\bTE43[56]\b", 4, False,
         fpga_firmware=("dahdi-fw-te435.bin", "dahdi-fw-te436.bin"),
         vpm_firmware=("dahdi-fw-oct6114-064.bin",)),
    Card("TE2xx", "TE205P, TE210P, TE220", "wct4xxp", r"\bTE2(05P|10P|20)\b", 2, True,
         vpm_firmware=_OCT),
    Card("TE2xx", "TE235, TE236", "wcte43x", r"\bTE23[56]\b", 2, False,
         fpga_firmware=("dahdi-fw-te435.bin", "dahdi-fw-te436.bin"),
         vpm_firmware=("dahdi-fw-oct6114-064.bin",)),
    Card("TE1xx", "TE131, TE132, TE133, TE134", "wcte13xp", r"\bTE13[1-4]\b", 1, False,
         fpga_firmware=("dahdi-fw-te133.bin", "dahdi-fw-te134.bin"),
         vpm_firmware=("dahdi-fw-vpmoct032.bin",)),
    Card("TE1xx", "TE120P, TE121, TE122", "wcte12xp", r"\bTE12(0P|1|2)\b|TE12xP", 1, False,
         vpm_firmware=("VPMADT032 (dahdi-fwload-vpmadt032)",)),
    Card("TE1xx", "TE110P", "wcte11xp", r"\bTE110P\b", 1, False),
)


def identify(devicetype: str) -> Card | None:
    """The card family for a sysfs ``type`` string, or None when unknown."""
    for card in CARDS:
        if card.matches(devicetype):
            return card
    return None
