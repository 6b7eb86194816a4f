"""ctypes mirror of libpri 1.6's public structures (/usr/include/libpri.h).

Every structure and union here is laid out field for field as libpri.h
declares it (including the subcommand union members, which decide the size
of `struct pri_subcommand`); `tests/appliance/isdn/test_libpri_harness.py`
compiles a C program against libpri.h and checks sizes and offsets against
these classes, so a layout mistake fails a test instead of corrupting memory.
"""

from __future__ import annotations

import ctypes as C

c_int, c_long, c_char, c_ubyte, c_void_p = C.c_int, C.c_long, C.c_char, C.c_ubyte, C.c_void_p


class PartyName(C.Structure):
    _fields_ = [("valid", c_int), ("presentation", c_int), ("char_set", c_int),
                ("str", c_char * 64)]


class PartyNumber(C.Structure):
    _fields_ = [("valid", c_int), ("presentation", c_int), ("plan", c_int),
                ("str", c_char * 64)]


class PartySubaddress(C.Structure):
    _fields_ = [("valid", c_int), ("type", c_int), ("odd_even_indicator", c_int),
                ("length", c_int), ("data", c_ubyte * 32)]


class PartyAddress(C.Structure):
    _fields_ = [("number", PartyNumber), ("subaddress", PartySubaddress)]


class PartyId(C.Structure):
    _fields_ = [("name", PartyName), ("number", PartyNumber), ("subaddress", PartySubaddress)]


class PartyConnectedLine(C.Structure):
    _fields_ = [("id", PartyId)]


class PartyRedirecting(C.Structure):
    _fields_ = [("from_", PartyId), ("to", PartyId), ("orig_called", PartyId),
                ("count", c_int), ("orig_reason", c_int), ("reason", c_int)]


class ReroutingData(C.Structure):
    _fields_ = [("caller", PartyId), ("deflection", PartyRedirecting),
                ("subscription_option", c_int), ("invoke_id", c_int)]


class CcId(C.Structure):
    _fields_ = [("cc_id", c_long)]


class CcRequest(C.Structure):
    _fields_ = [("cc_id", c_long), ("mode", c_int)]


class CcRequestRsp(C.Structure):
    _fields_ = [("cc_id", c_long), ("status", c_int), ("fail_code", c_int)]


class CcStatus(C.Structure):
    _fields_ = [("cc_id", c_long), ("status", c_int)]


class CcCancel(C.Structure):
    _fields_ = [("cc_id", c_long), ("is_agent", c_int)]


class Transfer(C.Structure):
    _fields_ = [("call_1", c_void_p), ("call_2", c_void_p), ("is_call_1_held", c_int),
                ("is_call_2_held", c_int), ("invoke_id", c_int)]


class AocTime(C.Structure):
    _fields_ = [("length", c_long), ("scale", c_int)]


class AocAmount(C.Structure):
    _fields_ = [("cost", c_long), ("multiplier", c_int)]


class AocDuration(C.Structure):
    _fields_ = [("amount", AocAmount), ("time", AocTime), ("granularity", AocTime),
                ("charging_type", c_int), ("currency", c_char * 11)]


class AocFlat(C.Structure):
    _fields_ = [("amount", AocAmount), ("currency", c_char * 11)]


class AocVolume(C.Structure):
    _fields_ = [("amount", AocAmount), ("unit", c_int), ("currency", c_char * 11)]


class AocRate(C.Union):
    _fields_ = [("duration", AocDuration), ("flat", AocFlat), ("volume", AocVolume),
                ("special", c_int)]


class AocSElement(C.Structure):
    _fields_ = [("chargeable", c_int), ("rate_type", c_int), ("rate", AocRate)]


class AocS(C.Structure):
    _fields_ = [("num_items", c_int), ("item", AocSElement * 10)]


class AocRecordedCurrency(C.Structure):
    _fields_ = [("amount", AocAmount), ("currency", c_char * 11)]


class AocUnitsElement(C.Structure):
    _fields_ = [("number", c_long), ("type", c_int)]


class AocRecordedUnits(C.Structure):
    _fields_ = [("num_items", c_int), ("item", AocUnitsElement * 32)]


class AocRecorded(C.Union):
    _fields_ = [("money", AocRecordedCurrency), ("unit", AocRecordedUnits)]


class AocD(C.Structure):
    _fields_ = [("charge", c_int), ("billing_accumulation", c_int), ("billing_id", c_int),
                ("recorded", AocRecorded)]


class AocECharge(C.Union):
    _fields_ = [("number", PartyNumber), ("id", c_int)]


class AocEChargingAssociation(C.Structure):
    _fields_ = [("charge", AocECharge), ("charging_type", c_int)]


class AocE(C.Structure):
    _fields_ = [("charge", c_int), ("billing_id", c_int), ("recorded", AocRecorded),
                ("associated", AocEChargingAssociation)]


class AocRequestResponse(C.Structure):
    _fields_ = [("aoc_s", AocS), ("valid_aoc_s", c_int), ("charging_request", c_int),
                ("charging_response", c_int)]


class AocRequest(C.Structure):
    _fields_ = [("charging_request", c_int), ("invoke_id", c_int)]


class McidReq(C.Structure):
    _fields_ = [("originator", PartyId), ("answerer", PartyId)]


class McidRsp(C.Structure):
    _fields_ = [("status", c_int), ("fail_code", c_int)]


class DisplayTxt(C.Structure):
    _fields_ = [("char_set", c_int), ("length", c_int), ("text", c_char * 128)]


class SubcommandUnion(C.Union):
    _fields_ = [
        ("reserve_space", c_char * 512), ("connected_line", PartyConnectedLine),
        ("redirecting", PartyRedirecting), ("rerouting", ReroutingData),
        ("cc_available", CcId), ("cc_request", CcRequest), ("cc_request_rsp", CcRequestRsp),
        ("cc_remote_user_free", CcId), ("cc_b_free", CcId), ("cc_stop_alerting", CcId),
        ("cc_status_req", CcId), ("cc_status_req_rsp", CcStatus), ("cc_status", CcStatus),
        ("cc_call", CcId), ("cc_cancel", CcCancel), ("transfer", Transfer),
        ("aoc_request", AocRequest), ("aoc_request_response", AocRequestResponse),
        ("aoc_s", AocS), ("aoc_d", AocD), ("aoc_e", AocE), ("mcid_req", McidReq),
        ("mcid_rsp", McidRsp), ("display", DisplayTxt),
    ]


class Subcommand(C.Structure):
    _fields_ = [("cmd", c_int), ("u", SubcommandUnion)]


PRI_MAX_SUBCOMMANDS = 8


class Subcommands(C.Structure):
    _fields_ = [("counter_subcmd", c_int), ("subcmd", Subcommand * PRI_MAX_SUBCOMMANDS)]


SubcommandsP = C.POINTER(Subcommands)


class EvGeneric(C.Structure):
    _fields_ = [("e", c_int)]


class EvError(C.Structure):
    _fields_ = [("e", c_int), ("err", c_char * 256)]


class EvRestart(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int)]


class EvRinging(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int), ("cref", c_int), ("progress", c_int),
                ("progressmask", c_int), ("call", c_void_p), ("useruserinfo", c_char * 260),
                ("subcmds", SubcommandsP)]


class EvAnswer(EvRinging):
    pass


class EvFacname(C.Structure):
    _fields_ = [("e", c_int), ("callingname", c_char * 256), ("callingnum", c_char * 256),
                ("channel", c_int), ("cref", c_int), ("call", c_void_p),
                ("callingpres", c_int), ("callingplan", c_int)]


class EvFacility(C.Structure):
    _fields_ = [("e", c_int), ("callingname", c_char * 256), ("callingnum", c_char * 256),
                ("channel", c_int), ("cref", c_int), ("call", c_void_p),
                ("callingpres", c_int), ("callingplan", c_int), ("subcmds", SubcommandsP),
                ("subcall", c_void_p)]


class EvRing(C.Structure):
    _fields_ = [
        ("e", c_int), ("channel", c_int), ("callingpres", c_int), ("callingplanani", c_int),
        ("callingplan", c_int), ("callingani", c_char * 256), ("callingnum", c_char * 256),
        ("callingname", c_char * 256), ("calledplan", c_int), ("ani2", c_int),
        ("callednum", c_char * 256), ("redirectingnum", c_char * 256),
        ("redirectingname", c_char * 256), ("redirectingreason", c_int),
        ("callingplanrdnis", c_int), ("useruserinfo", c_char * 260), ("flexible", c_int),
        ("cref", c_int), ("ctype", c_int), ("layer1", c_int), ("complete", c_int),
        ("call", c_void_p), ("callingsubaddr", c_char * 256), ("progress", c_int),
        ("progressmask", c_int), ("origcalledname", c_char * 256),
        ("origcallednum", c_char * 256), ("callingplanorigcalled", c_int),
        ("origredirectingreason", c_int), ("reversecharge", c_int),
        ("subcmds", SubcommandsP), ("calling", PartyId),
        ("called_subaddress", PartySubaddress), ("keypad_digits", c_char * 64),
    ]


class EvHangup(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int), ("cause", c_int), ("cref", c_int),
                ("call", c_void_p), ("aoc_units", c_long), ("useruserinfo", c_char * 260),
                ("subcmds", SubcommandsP), ("call_held", c_void_p), ("call_active", c_void_p)]


class EvRestartAck(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int)]


class EvProceeding(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int), ("cref", c_int), ("progress", c_int),
                ("progressmask", c_int), ("cause", c_int), ("call", c_void_p),
                ("subcmds", SubcommandsP)]


class EvSetupAck(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int), ("call", c_void_p),
                ("subcmds", SubcommandsP), ("progressmask", c_int)]


class EvNotify(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int), ("info", c_int),
                ("subcmds", SubcommandsP), ("call", c_void_p)]


class EvKeypadDigit(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int), ("call", c_void_p), ("digits", c_char * 64),
                ("subcmds", SubcommandsP)]


class EvService(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int), ("changestatus", c_int)]


class EvServiceAck(EvService):
    pass


class EvHold(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int), ("call", c_void_p), ("subcmds", SubcommandsP)]


class EvHoldAck(EvHold):
    pass


class EvHoldRej(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int), ("call", c_void_p), ("cause", c_int),
                ("subcmds", SubcommandsP)]


class EvRetrieve(C.Structure):
    _fields_ = [("e", c_int), ("channel", c_int), ("call", c_void_p), ("flexible", c_int),
                ("subcmds", SubcommandsP)]


class EvRetrieveAck(EvHold):
    pass


class EvRetrieveRej(EvHoldRej):
    pass


class EvConnectAck(EvHold):
    pass


class PriEvent(C.Union):
    _fields_ = [
        ("e", c_int), ("gen", EvGeneric), ("restart", EvRestart), ("err", EvError),
        ("facname", EvFacname), ("ring", EvRing), ("hangup", EvHangup),
        ("ringing", EvRinging), ("answer", EvAnswer), ("restartack", EvRestartAck),
        ("proceeding", EvProceeding), ("setup_ack", EvSetupAck), ("notify", EvNotify),
        ("digit", EvKeypadDigit), ("service", EvService), ("service_ack", EvServiceAck),
        ("facility", EvFacility), ("hold", EvHold), ("hold_ack", EvHoldAck),
        ("hold_rej", EvHoldRej), ("retrieve", EvRetrieve), ("retrieve_ack", EvRetrieveAck),
        ("retrieve_rej", EvRetrieveRej), ("connect_ack", EvConnectAck),
    ]


class Timeval(C.Structure):
    _fields_ = [("tv_sec", c_long), ("tv_usec", c_long)]


# C names for the layout check: (ctypes class, C type name).
C_NAMES: list[tuple[type[C.Structure] | type[C.Union], str]] = [
    (PartyName, "struct pri_party_name"), (PartyNumber, "struct pri_party_number"),
    (PartySubaddress, "struct pri_party_subaddress"), (PartyId, "struct pri_party_id"),
    (PartyRedirecting, "struct pri_party_redirecting"),
    (ReroutingData, "struct pri_rerouting_data"), (AocS, "struct pri_subcmd_aoc_s"),
    (AocD, "struct pri_subcmd_aoc_d"), (AocE, "struct pri_subcmd_aoc_e"),
    (AocRequestResponse, "struct pri_subcmd_aoc_request_response"),
    (Subcommand, "struct pri_subcommand"), (Subcommands, "struct pri_subcommands"),
    (EvRing, "pri_event_ring"), (EvHangup, "pri_event_hangup"),
    (EvRinging, "pri_event_ringing"), (EvAnswer, "pri_event_answer"),
    (EvFacility, "struct pri_event_facility"), (EvProceeding, "pri_event_proceeding"),
    (EvSetupAck, "pri_event_setup_ack"), (EvNotify, "pri_event_notify"),
    (EvKeypadDigit, "pri_event_keypad_digit"), (EvService, "pri_event_service"),
    (EvHoldRej, "struct pri_event_hold_rej"), (EvRetrieve, "struct pri_event_retrieve"),
    (PriEvent, "pri_event"),
]
