"""Every switch variant's call-control differences, as data, in one place.

Q.931 (05/98) clause 5 is the common procedure; the North American variants
(Telcordia GR-4434 NI-2, AT&T TR 41459 4ESS, Lucent 235-900-342 5ESS, Nortel
NIS A211-1 DMS-100), ETSI EN 300 102-1 (EuroISDN, on E1 and on T1) and ECMA-143
(QSIG basic call, with ECMA-164 name presentation) differ only in the points
listed in `VariantProfile`.  Code elsewhere in `appliance.isdn.cc` asks the
profile; it never tests the variant itself.

Values follow the standards where they are explicit and libpri 1.6 (the
reference open stack, `q931.c`) where the standards leave a choice, so that
the two interwork by default.  Every field can be overridden per span with
`dataclasses.replace()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from appliance.isdn.q931.codes import Variant, maintenance_pd

T1_B_CHANNELS: tuple[int, ...] = tuple(range(1, 24))
"""T1 PRI (23B+D): B-channels are timeslots 1-23, the D-channel is 24."""

E1_B_CHANNELS: tuple[int, ...] = tuple(c for c in range(1, 32) if c != 16)
"""E1 PRI (30B+D): timeslots 1-15 and 17-31 (Q.931 4.5.13 numbers them so)."""


class RestartOnUp(Enum):
    """What a side does with idle B-channels when the D-channel comes up (Q.931 5.5)."""

    NONE = "none"
    EACH_CHANNEL = "each"  # one RESTART (class 0) per idle channel
    CHANNEL_LIST = "list"  # one RESTART (class 0) naming all idle channels
    INTERFACE = "interface"  # RESTART class 7 (only when no call exists)


class NameDelivery(Enum):
    """Where a variant carries the calling/connected party name."""

    DISPLAY = "display"  # Display IE, codeset 0 (4ESS, 5ESS, DMS-100, ETSI)
    FACILITY_NI2 = "facility-ni2"  # ROSE callingName invoke in Facility (NI-2, GR-1367)
    FACILITY_QSIG = "facility-qsig"  # ECMA-164 name operations in Facility


class RedirectingDelivery(Enum):
    """Where a variant carries the redirecting number."""

    IE = "ie"  # Redirecting number IE (Q.951 / T1.607), in SETUP
    QSIG_DIVERSION = "qsig-diversion"  # ECMA-174 divertingLegInformation2 in Facility


@dataclass(frozen=True)
class VariantProfile:
    """The call-control facts that differ between switch variants."""

    variant: Variant
    title: str
    b_channels: tuple[int, ...]
    service_pd: int | None
    """Protocol discriminator of SERVICE/SERVICE ACK, None where SERVICE is not used."""
    restart_on_up: Mapping[str, RestartOnUp]
    """Per role ("user", "network"): what to restart when layer 2 comes up."""
    sending_complete_en_bloc: bool
    """Put Sending complete in an en-bloc SETUP (ETSI EN 300 403 5.1.3 requires it)."""
    overlap_receiving: bool
    """Whether the variant allows SETUP ACKNOWLEDGE on a PRI (overlap sending)."""
    name_delivery: NameDelivery
    redirecting_delivery: RedirectingDelivery
    channel_exclusive_from_network: bool = True
    """The network's SETUP names its channel as exclusive (usual on PRI, Q.931 5.2.3.1)."""
    channel_exclusive_from_user: bool = False
    """The user's SETUP asks for its channel as preferred, letting the network move it."""
    connect_ack_by_user: bool = True
    """The calling user answers CONNECT with CONNECT ACKNOWLEDGE (Q.931 5.1.8 allows it)."""
    progress_in_disconnect_means_tones: bool = True
    """DISCONNECT with progress 8 keeps the channel for in-band tones (Q.931 5.3.4.1)."""
    status_enquiry_on_link_up: bool = True
    """Resynchronise active calls with STATUS ENQUIRY after T309 stopped (Q.931 5.8.8)."""
    glare_winner: str = "network"
    """Which role keeps a channel both sides seized (Q.931 5.7; ECMA-143 6.3.2: the
    QSIG "network" end plays the role chosen at configuration)."""
    cause44_retries: int = 1
    """New attempts on other channels after cause 44 (requested channel not available)."""
    restart_retries: int = 2
    """RESTART retransmissions on T316 expiry before the channels are taken out of service."""
    report_ie_errors: bool = True
    """Answer unrecognised (99) or malformed (100) optional IEs with STATUS (Q.931 5.8.7)."""
    status_enquiry_retries: int = 1
    """STATUS ENQUIRY retransmissions on T322 expiry (Q.931 5.8.10)."""
    timers: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Overrides of the Q.931 Table 9-1/9-2 defaults, in seconds."""
    notes: str = ""


_NA_RESTART = MappingProxyType({"user": RestartOnUp.EACH_CHANNEL,
                                "network": RestartOnUp.NONE})
_NO_RESTART = MappingProxyType({"user": RestartOnUp.NONE, "network": RestartOnUp.NONE})

PROFILES: Mapping[Variant, VariantProfile] = MappingProxyType({
    Variant.NI2: VariantProfile(
        variant=Variant.NI2, title="National ISDN 2 (GR-4434)",
        b_channels=T1_B_CHANNELS, service_pd=maintenance_pd(Variant.NI2), restart_on_up=_NA_RESTART,
        sending_complete_en_bloc=False, overlap_receiving=False,
        name_delivery=NameDelivery.FACILITY_NI2,
        redirecting_delivery=RedirectingDelivery.IE,
        notes="Avaya and Cisco PRIs in the US; name in a Facility callingName invoke; "
              "SERVICE with the national discriminator 0x43 (libpri 1.6).",
    ),
    Variant.ATT4ESS: VariantProfile(
        variant=Variant.ATT4ESS, title="AT&T 4ESS (TR 41459)",
        b_channels=T1_B_CHANNELS, service_pd=maintenance_pd(Variant.ATT4ESS),
        restart_on_up=_NA_RESTART,
        sending_complete_en_bloc=False, overlap_receiving=False,
        name_delivery=NameDelivery.DISPLAY,
        redirecting_delivery=RedirectingDelivery.IE,
        notes="Interexchange carrier switch; SERVICE with protocol discriminator 0x03.",
    ),
    Variant.LUCENT5E: VariantProfile(
        variant=Variant.LUCENT5E, title="Lucent 5ESS custom (235-900-342)",
        b_channels=T1_B_CHANNELS, service_pd=maintenance_pd(Variant.LUCENT5E), restart_on_up=_NA_RESTART,
        sending_complete_en_bloc=False, overlap_receiving=False,
        name_delivery=NameDelivery.DISPLAY,
        redirecting_delivery=RedirectingDelivery.IE,
    ),
    Variant.DMS100: VariantProfile(
        variant=Variant.DMS100, title="Nortel DMS-100 (NIS A211-1)",
        b_channels=T1_B_CHANNELS, service_pd=maintenance_pd(Variant.DMS100),
        restart_on_up=_NA_RESTART,
        sending_complete_en_bloc=False, overlap_receiving=False,
        name_delivery=NameDelivery.DISPLAY,
        redirecting_delivery=RedirectingDelivery.IE,
        notes="SERVICE with the AT&T discriminator 0x03, as libpri sends it.",
    ),
    Variant.EUROISDN_E1: VariantProfile(
        variant=Variant.EUROISDN_E1, title="EuroISDN on E1 (EN 300 102-1 / EN 300 403)",
        b_channels=E1_B_CHANNELS, service_pd=None, restart_on_up=_NO_RESTART,
        sending_complete_en_bloc=True, overlap_receiving=True,
        name_delivery=NameDelivery.DISPLAY,
        redirecting_delivery=RedirectingDelivery.IE,
    ),
    Variant.EUROISDN_T1: VariantProfile(
        variant=Variant.EUROISDN_T1, title="EuroISDN on T1 (EN 300 102-1)",
        b_channels=T1_B_CHANNELS, service_pd=None, restart_on_up=_NO_RESTART,
        sending_complete_en_bloc=True, overlap_receiving=True,
        name_delivery=NameDelivery.DISPLAY,
        redirecting_delivery=RedirectingDelivery.IE,
    ),
    Variant.QSIG: VariantProfile(
        variant=Variant.QSIG, title="QSIG basic call (ECMA-143) with name (ECMA-164)",
        b_channels=E1_B_CHANNELS, service_pd=None, restart_on_up=_NO_RESTART,
        sending_complete_en_bloc=True, overlap_receiving=True,
        name_delivery=NameDelivery.FACILITY_QSIG,
        redirecting_delivery=RedirectingDelivery.QSIG_DIVERSION,
        channel_exclusive_from_user=False,
        notes="Symmetric: the 'network' role is the configured side A of ECMA-143.",
    ),
})


def profile(variant: Variant | int, *, b_channels: tuple[int, ...] | None = None
            ) -> VariantProfile:
    """The profile of `variant`, optionally with another B-channel set (T1 QSIG, fractional)."""
    p = PROFILES[Variant(variant)]
    if b_channels is not None:
        from dataclasses import replace
        p = replace(p, b_channels=tuple(b_channels))
    return p
