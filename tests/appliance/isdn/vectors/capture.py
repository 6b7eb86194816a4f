"""Capture Q.931 test vectors from libpri: `python -m tests.appliance.isdn.vectors.capture`.

For each switch type libpri has (ni2, 5ess, 4ess, dms100, euroisdn_e1,
euroisdn_t1, qsig) a libpri network side and a libpri user side run against
each other over the ctypes harness (tests.peers.libpri), through calls both
ways (calling name, redirecting number, user-user, keypad; proceeding,
progress, alerting, connect, disconnect, release), overlap dialling (SETUP
ACK, INFORMATION), RESTART of a channel and of the interface, SERVICE where
the switch uses it; then libpri against our own Q.921 for STATUS (answers to
STATUS ENQUIRY and to an unknown message type) and RESTART ACKNOWLEDGE of
the whole interface (libpri's pri_restart sends nothing on a PRI).  Every I frame's information
field is written, in order, as `<direction> <message> <hex>` to
`libpri_<switch>.txt` beside this file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path

from appliance.isdn.q921 import Side
from appliance.isdn.q931 import (
    ChannelId,
    Message,
    MessageType,
    RestartIndicator,
    decode_message,
)
from tests.peers.libpri import (
    PRI_LAYER_1_ALAW,
    PRI_NATIONAL_ISDN,
    PRI_PROG_INBAND_AVAILABLE,
    VERSION,
    Ev,
    Event,
    LibPri,
    Node,
    Switch,
    relay,
)

HERE = Path(__file__).parent
SWITCHES = {"ni2": Switch.NI2, "5ess": Switch.LUCENT5E, "4ess": Switch.ATT4ESS,
            "dms100": Switch.DMS100, "euroisdn_e1": Switch.EUROISDN_E1,
            "euroisdn_t1": Switch.EUROISDN_T1, "qsig": Switch.QSIG}
NORTH_AMERICAN = {Switch.NI2, Switch.LUCENT5E, Switch.ATT4ESS, Switch.DMS100}

Record = tuple[str, str, bytes]


def _name(payload: bytes) -> str:
    try:
        t = decode_message(payload).type
    except Exception:  # a capture tool: keep whatever libpri sent
        return "UNDECODABLE"
    return t.name if isinstance(t, IntEnum) else f"0x{t:02x}"


class Session:
    """libpri network (`net`) and user (`cpe`) sides, recording I frame payloads."""

    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        self.net = LibPri(Node.NETWORK, switch)
        self.cpe = LibPri(Node.CPE, switch)
        if switch in NORTH_AMERICAN:
            self.net.set_service_message_support(True)
            self.cpe.set_service_message_support(True)
        self.records: list[Record] = []
        self.scenario = ""
        self.events: list[tuple[str, Event]] = []

    def _tap(self, tag: str, frame: bytes) -> None:
        if len(frame) > 4 and not frame[2] & 1:
            d = "net>cpe" if tag == "a>b" else "cpe>net"
            self.records.append((self.scenario, d, frame[4:]))

    def run(self, pred: Callable[[list[tuple[str, Event]]], bool] | None = None,
            wait: float = 0.3) -> list[tuple[str, Event]]:
        evs = relay(self.net, self.cpe, tap=self._tap, max_wait=wait,
                    until=(lambda o: pred(self.events + o)) if pred else None)
        self.events += evs
        return evs

    def wait_for(self, side: str, *es: int, wait: float = 2.0) -> Event:
        def has(o: list[tuple[str, Event]]) -> bool:
            return any(s == side and ev.e in es for s, ev in o)
        self.run(has, wait)
        for s, ev in reversed(self.events):
            if s == side and ev.e in es:
                self.events.remove((s, ev))
                return ev
        names = "/".join(Ev(e).name for e in es)
        raise RuntimeError(f"{self.switch.name}: no {names} on {side} in {self.scenario}: "
                           f"{[(s, e.name) for s, e in self.events]}")

    def settle(self) -> None:
        self.run(None, 0.2)
        # libpri wants pri_hangup after it reports a hangup; answer any pending ones
        for s, ev in list(self.events):
            if ev.e in (Ev.HANGUP, Ev.HANGUP_REQ):
                (self.net if s == "a" else self.cpe).hangup(ev.call, 16)
        self.events.clear()
        self.run(None, 0.2)


def call_scenarios(s: Session) -> None:
    net, cpe = s.net, s.cpe
    s.scenario = "link"
    s.wait_for("a", Ev.DCHAN_UP)
    s.wait_for("b", Ev.DCHAN_UP)

    s.scenario = "user-to-network call, answered, user clears"
    c = cpe.new_call()
    cpe.setup(c, called="18005551212", calledplan=PRI_NATIONAL_ISDN, caller="5551234",
              callername="Alice Smith", callerplan=PRI_NATIONAL_ISDN, channel=1,
              redirecting=("5559999", PRI_NATIONAL_ISDN, 0, 1), useruser="uui-data",
              keypad="*72")
    r = s.wait_for("a", Ev.RING)
    net.proceeding(r.call, 1, 0)
    net.progress(r.call, 1, 1)
    net.acknowledge(r.call, 1, 1)
    s.wait_for("b", Ev.RINGING)
    net.answer(r.call, 1)
    s.wait_for("b", Ev.ANSWER)
    s.run(None, 0.1)
    net.notify(r.call, 1, 0)
    s.run(None, 0.1)
    cpe.hangup(c, 16)
    h = s.wait_for("a", Ev.HANGUP_REQ, Ev.HANGUP)
    net.hangup(h.call, 16)
    s.settle()

    s.scenario = "network-to-user call, alerting, user busy"
    c = net.new_call()
    net.setup(c, called="2001", caller="3125550100", callername="Bob Jones", channel=2,
              callerplan=PRI_NATIONAL_ISDN, redirecting=("3125550199", PRI_NATIONAL_ISDN, 0, 2),
              userl1=PRI_LAYER_1_ALAW if s.switch in (Switch.EUROISDN_E1, Switch.QSIG)
              else 0x22)
    r = s.wait_for("b", Ev.RING)
    cpe.proceeding(r.call, 2, 0)
    cpe.acknowledge(r.call, 2, 0)
    s.wait_for("a", Ev.RINGING)
    cpe.hangup(r.call, 17)
    h = s.wait_for("a", Ev.HANGUP_REQ, Ev.HANGUP)
    net.hangup(h.call, 17)
    s.settle()

    s.scenario = "network-to-user call, answered, network clears"
    c = net.new_call()
    net.setup(c, called="2002", caller="3125550101", channel=3)
    r = s.wait_for("b", Ev.RING)
    cpe.answer(r.call, 3)
    s.wait_for("a", Ev.ANSWER)
    net.hangup(c, 16)
    h = s.wait_for("b", Ev.HANGUP_REQ, Ev.HANGUP)
    cpe.hangup(h.call, 16)
    s.settle()

    s.scenario = "overlap dialling, no circuit"
    net.set_overlapdial(True)
    cpe.set_overlapdial(True)
    c = cpe.new_call()
    cpe.setup(c, called="55", complete=False, caller="5551234", channel=4)
    r = s.wait_for("a", Ev.RING)
    net.need_more_info(r.call, 4)
    s.wait_for("b", Ev.SETUP_ACK)
    cpe.information(c, "5")
    s.wait_for("a", Ev.INFO_RECEIVED)
    net.progress_with_cause(r.call, 4, PRI_PROG_INBAND_AVAILABLE, 34)
    s.run(None, 0.1)
    net.hangup(r.call, 34)
    h = s.wait_for("b", Ev.HANGUP_REQ, Ev.HANGUP)
    cpe.hangup(h.call, 34)
    s.settle()

    s.scenario = "restart one channel"
    net.reset(5)
    s.wait_for("a", Ev.RESTART_ACK)
    s.settle()

    if s.switch in NORTH_AMERICAN:
        s.scenario = "service: channel out of service, back in service"
        net.maintenance_service(0, 6, 2)
        s.run(None, 0.3)
        net.maintenance_service(0, 6, 0)
        s.run(None, 0.3)
        s.settle()


def status_scenarios(switch: Switch) -> list[Record]:
    """libpri (network side) against our Q.921: STATUS answers."""
    from tests.appliance.isdn.libpri_link import LapdVsLibpri

    x = LapdVsLibpri(Side.USER, switch)
    out: list[Record] = []
    x.pump(2.0, lambda x: x.lapd.is_up and any(e.e == Ev.DCHAN_UP for e in x.theirs))
    c = x.pri.new_call()
    x.pri.setup(c, called="2003", caller="5550000", channel=7)
    x.pump(1.0, lambda x: bool(x.data()))
    setup = decode_message(x.data()[0])
    out.append(("status enquiry", "net>cpe", x.data()[0]))
    cr = setup.call_ref
    ours = [Message(MessageType.ALERTING, cr, True, (ChannelId((7,)),)),
            Message(MessageType.STATUS_ENQUIRY, cr, True),
            Message(0x7F & 0x6F, cr, True),  # 0x6F: a message type Q.931 does not define
            Message(MessageType.RESTART, 0, False, (RestartIndicator(7),))]
    for m in ours:
        n = len(x.data())
        x.lapd.send_data(m.encode(), time.time())
        out.append(("status enquiry", "cpe>net", m.encode()))
        x.pump(1.0, lambda x, n=n: len(x.data()) > n)
        out += [("status enquiry", "net>cpe", d) for d in x.data()[n:]]
    x.pri.close()
    return out


def capture(switch: Switch) -> list[Record]:
    s = Session(switch)
    try:
        call_scenarios(s)
    finally:
        s.net.close()
        s.cpe.close()
    return s.records + status_scenarios(switch)


def write(name: str, records: list[Record]) -> Path:
    lines = [f"# libpri {VERSION} Q.931 vectors, switch type {name} "
             f"(PRI_SWITCH_{SWITCHES[name].name})",
             "# made by: python -m tests.appliance.isdn.vectors.capture (libpri network and",
             "# user side over the ctypes harness in tests/peers/libpri, then libpri against",
             "# our Q.921); each line: direction, message type, information field in hex.",
             ""]
    scenario = None
    for sc, d, payload in records:
        if sc != scenario:
            lines.append(f"## {sc}")
            scenario = sc
        lines.append(f"{d} {_name(payload)} {payload.hex()}")
    path = HERE / f"libpri_{name}.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str]) -> int:
    for name in argv or list(SWITCHES):
        path = write(name, capture(SWITCHES[name]))
        print(path, sum(1 for ln in path.read_text().splitlines() if ln[:1] not in "#"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
