"""Q.931 code points: protocol discriminators, message types, IE identifiers.

Sources: ITU-T Q.931 (05/98) 4.2 (protocol discriminator), Table 4-2 (message
types), Table 4-3 (information element identifiers); ANSI T1.607 / Telcordia
GR-4434 (NI-2) for SERVICE, CHANGE STATUS and ORIGINAL CALLED NUMBER; the
switch variants' use of codesets 5-7 as libpri documents them.
"""

from __future__ import annotations

from enum import IntEnum


class ProtocolDiscriminator(IntEnum):
    """Q.931 4.2: octet 1 of every message."""

    Q931 = 0x08
    MAINTENANCE = 0x03  # AT&T maintenance: SERVICE / SERVICE ACK (4ESS, 5ESS, DMS-100)
    MAINTENANCE_DMS = 0x43  # national maintenance (NI-2 in libpri; DMS-100 in some documents)


MAINTENANCE_PDS = frozenset({ProtocolDiscriminator.MAINTENANCE,
                             ProtocolDiscriminator.MAINTENANCE_DMS})


class MessageType(IntEnum):
    """Q.931 Table 4-2 (protocol discriminator 0x08)."""

    ESCAPE = 0x00
    ALERTING = 0x01
    CALL_PROCEEDING = 0x02
    PROGRESS = 0x03
    SETUP = 0x05
    CONNECT = 0x07
    SETUP_ACKNOWLEDGE = 0x0D
    CONNECT_ACKNOWLEDGE = 0x0F
    USER_INFORMATION = 0x20
    SUSPEND_REJECT = 0x21
    RESUME_REJECT = 0x22
    HOLD = 0x24
    SUSPEND = 0x25
    RESUME = 0x26
    HOLD_ACKNOWLEDGE = 0x28
    SUSPEND_ACKNOWLEDGE = 0x2D
    RESUME_ACKNOWLEDGE = 0x2E
    HOLD_REJECT = 0x30
    RETRIEVE = 0x31
    RETRIEVE_ACKNOWLEDGE = 0x33
    RETRIEVE_REJECT = 0x37
    DISCONNECT = 0x45
    RESTART = 0x46
    RELEASE = 0x4D
    RESTART_ACKNOWLEDGE = 0x4E
    RELEASE_COMPLETE = 0x5A
    SEGMENT = 0x60
    FACILITY = 0x62
    REGISTER = 0x64
    NOTIFY = 0x6E
    STATUS_ENQUIRY = 0x75
    CONGESTION_CONTROL = 0x79
    INFORMATION = 0x7B
    STATUS = 0x7D


class MaintenanceMessageType(IntEnum):
    """AT&T maintenance messages (protocol discriminator 0x03; 4ESS, 5ESS, DMS-100)."""

    SERVICE_ACKNOWLEDGE = 0x07
    SERVICE = 0x0F


class NationalMaintenanceMessageType(IntEnum):
    """National maintenance messages (protocol discriminator 0x43; NI-2).

    The type values are the reverse of the AT&T ones, as libpri 1.6 (q931.h
    NATIONAL_SERVICE 0x07, NATIONAL_SERVICE_ACKNOWLEDGE 0x0f) sends them.
    """

    SERVICE = 0x07
    SERVICE_ACKNOWLEDGE = 0x0F


class IEId(IntEnum):
    """Codeset 0 variable-length IE identifiers (Q.931 Table 4-3, plus national ones)."""

    SEGMENTED_MESSAGE = 0x00
    CHANGE_STATUS = 0x01  # national (NI-2/4ESS/5ESS/DMS SERVICE)
    BEARER_CAPABILITY = 0x04
    CAUSE = 0x08
    CONNECTED_ADDRESS = 0x0C  # old AT&T form
    CALL_IDENTITY = 0x10
    CALL_STATE = 0x14
    CHANNEL_IDENTIFICATION = 0x18
    FACILITY = 0x1C
    PROGRESS_INDICATOR = 0x1E
    NETWORK_SPECIFIC_FACILITIES = 0x20
    ENDPOINT_IDENTIFIER = 0x26
    NOTIFICATION_INDICATOR = 0x27
    DISPLAY = 0x28
    DATE_TIME = 0x29
    KEYPAD_FACILITY = 0x2C
    CALL_STATUS = 0x2D
    UPDATE = 0x31
    INFO_REQUEST = 0x32
    SIGNAL = 0x34
    SWITCHHOOK = 0x36
    FEATURE_ACTIVATION = 0x38
    FEATURE_INDICATION = 0x39
    INFORMATION_RATE = 0x40
    TRANSIT_DELAY = 0x42
    TRANSIT_DELAY_SELECTION = 0x43
    PACKET_BINARY_PARAMETERS = 0x44
    PACKET_WINDOW_SIZE = 0x45
    PACKET_SIZE = 0x46
    CLOSED_USER_GROUP = 0x47
    REVERSE_CHARGE_INDICATION = 0x4A
    CONNECTED_NUMBER = 0x4C
    CONNECTED_SUBADDRESS = 0x4D
    CALLING_PARTY_NUMBER = 0x6C
    CALLING_PARTY_SUBADDRESS = 0x6D
    CALLED_PARTY_NUMBER = 0x70
    CALLED_PARTY_SUBADDRESS = 0x71
    ORIGINAL_CALLED_NUMBER = 0x73
    REDIRECTING_NUMBER = 0x74
    REDIRECTING_SUBADDRESS = 0x75
    REDIRECTION_NUMBER = 0x76
    REDIRECTION_SUBADDRESS = 0x77
    TRANSIT_NETWORK_SELECTION = 0x78
    RESTART_INDICATOR = 0x79
    USER_USER_FACILITY = 0x7A
    LOW_LAYER_COMPATIBILITY = 0x7C
    HIGH_LAYER_COMPATIBILITY = 0x7D
    USER_USER = 0x7E
    ESCAPE_FOR_EXTENSION = 0x7F


class SingleOctetId(IntEnum):
    """Single-octet IEs (Q.931 4.5.1): type 1 (high nibble, value in low) and type 2."""

    SHIFT = 0x90  # 1001 L ccc: L=1 non-locking
    CONGESTION_LEVEL = 0xB0
    REPEAT_INDICATOR = 0xD0
    MORE_DATA = 0xA0
    SENDING_COMPLETE = 0xA1


class Codeset6Id(IntEnum):
    """Codeset 6 (network-specific) IEs the North American switches send."""

    ORIGINATING_LINE_INFORMATION = 0x01
    FACILITY = 0x1C
    DISPLAY = 0x28
    GENERIC_DIGITS = 0x37


class Variant(IntEnum):
    """Switch variants (values match libpri's PRI_SWITCH_* for easy cross-checks)."""

    NI2 = 1
    DMS100 = 2
    LUCENT5E = 3
    ATT4ESS = 4
    EUROISDN_E1 = 5
    EUROISDN_T1 = 6
    QSIG = 10


NORTH_AMERICAN = frozenset({Variant.NI2, Variant.DMS100, Variant.LUCENT5E, Variant.ATT4ESS})


def maintenance_pd(variant: Variant) -> int:
    """The protocol discriminator SERVICE uses on `variant`, as libpri 1.6 sends it:
    0x43 (national) on NI-2, 0x03 (AT&T) on 4ESS, 5ESS and DMS-100.

    Some documents give 0x43 for DMS-100; the decoder accepts either
    discriminator on every variant, so only what we send depends on this.
    """
    return int(ProtocolDiscriminator.MAINTENANCE_DMS if variant == Variant.NI2
               else ProtocolDiscriminator.MAINTENANCE)


def service_type(pd: int, acknowledge: bool = False) -> int:
    """SERVICE (or SERVICE ACKNOWLEDGE) message type value for protocol discriminator `pd`."""
    if pd == ProtocolDiscriminator.MAINTENANCE_DMS:
        return int(NationalMaintenanceMessageType.SERVICE_ACKNOWLEDGE if acknowledge
                   else NationalMaintenanceMessageType.SERVICE)
    return int(MaintenanceMessageType.SERVICE_ACKNOWLEDGE if acknowledge
               else MaintenanceMessageType.SERVICE)


class CodingStandard(IntEnum):
    """Q.931 4.5.5 coding standard (2 bits)."""

    ITU_T = 0
    ISO_IEC = 1
    NATIONAL = 2
    NETWORK = 3


class TransferCapability(IntEnum):
    """Bearer capability information transfer capability (Q.931 4.5.5)."""

    SPEECH = 0x00
    UNRESTRICTED_DIGITAL = 0x08
    RESTRICTED_DIGITAL = 0x09
    AUDIO_3K1 = 0x10
    UNRESTRICTED_DIGITAL_TONES = 0x11
    VIDEO = 0x18


class TransferRate(IntEnum):
    """Bearer capability information transfer rate (Q.931 4.5.5)."""

    PACKET = 0x00
    KBPS_64 = 0x10
    KBPS_128 = 0x11
    KBPS_384 = 0x13
    KBPS_1536 = 0x15
    KBPS_1920 = 0x17
    MULTIRATE = 0x18


class Layer1Protocol(IntEnum):
    """User information layer 1 protocol (Q.931 4.5.5 octet 5)."""

    V110 = 0x01
    ULAW = 0x02
    ALAW = 0x03
    G721 = 0x04
    H221 = 0x05
    H223 = 0x06
    NON_ITU_RATE_ADAPTION = 0x07
    V120 = 0x08
    X31 = 0x09


class TypeOfNumber(IntEnum):
    """Q.931 4.5.8 type of number (3 bits)."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER = 4
    ABBREVIATED = 6


class NumberingPlan(IntEnum):
    """Q.931 4.5.8 numbering plan identification (4 bits)."""

    UNKNOWN = 0
    ISDN_E164 = 1
    DATA_X121 = 3
    TELEX_F69 = 4
    NATIONAL = 8
    PRIVATE = 9


class Presentation(IntEnum):
    """Q.931 4.5.10 presentation indicator (2 bits)."""

    ALLOWED = 0
    RESTRICTED = 1
    NOT_AVAILABLE = 2


class Screening(IntEnum):
    """Q.931 4.5.10 screening indicator (2 bits)."""

    USER_NOT_SCREENED = 0
    USER_VERIFIED_PASSED = 1
    USER_VERIFIED_FAILED = 2
    NETWORK_PROVIDED = 3


class RedirectionReason(IntEnum):
    """Redirecting number reason for redirection (Q.952 / T1.607 octet 3b)."""

    UNKNOWN = 0x0
    CALL_FORWARDING_BUSY = 0x1
    CALL_FORWARDING_NO_REPLY = 0x2
    DEFLECTION = 0x4
    DTE_OUT_OF_ORDER = 0x9
    CALL_FORWARDING_BY_CALLED_DTE = 0xA
    CALL_FORWARDING_UNCONDITIONAL = 0xF


class CallStateValue(IntEnum):
    """Q.931 4.5.7 call states (U/N states share values)."""

    NULL = 0
    CALL_INITIATED = 1
    OVERLAP_SENDING = 2
    OUTGOING_CALL_PROCEEDING = 3
    CALL_DELIVERED = 4
    CALL_PRESENT = 6
    CALL_RECEIVED = 7
    CONNECT_REQUEST = 8
    INCOMING_CALL_PROCEEDING = 9
    ACTIVE = 10
    DISCONNECT_REQUEST = 11
    DISCONNECT_INDICATION = 12
    SUSPEND_REQUEST = 15
    RESUME_REQUEST = 17
    RELEASE_REQUEST = 19
    CALL_ABORT = 22
    OVERLAP_RECEIVING = 25
    RESTART_REQUEST = 0x3D
    RESTART = 0x3E


class ProgressDescription(IntEnum):
    """Q.931 4.5.23 progress description."""

    NOT_END_TO_END_ISDN = 1
    DESTINATION_NOT_ISDN = 2
    ORIGINATION_NOT_ISDN = 3
    CALL_RETURNED_TO_ISDN = 4
    INTERWORKING = 5
    IN_BAND_INFORMATION = 8
    DELAY_IN_RESPONSE = 10


class RestartClass(IntEnum):
    """Q.931 4.5.25 restart indicator class."""

    INDICATED_CHANNELS = 0
    SINGLE_INTERFACE = 6
    ALL_INTERFACES = 7


class ChannelSelection(IntEnum):
    """Channel identification information channel selection (Q.931 4.5.13, PRI)."""

    NO_CHANNEL = 0
    AS_INDICATED = 1
    RESERVED = 2
    ANY = 3


class ServiceStatus(IntEnum):
    """Change status values (T1.607 / GR-4434 SERVICE)."""

    IN_SERVICE = 0
    MAINTENANCE = 1
    OUT_OF_SERVICE = 2
