"""The sippy runtime: one thread owning sippy's event loop, and the fixes it needs.

What: sippy's dispatcher (`ED2`) is created when sippy's core is imported and is
bound to the importing thread, so sippy is imported and run inside one
dedicated thread (`SippyThread`); work goes in with `ED2.callFromThread`
(thread-safe) and results come out through the caller's own hand-off
(`loop.call_soon_threadsafe` in `appliance.sip.endpoint`).  Exceptions raised
by work handed in are logged with their traceback, never swallowed.

The adaptations of sippy 2.5.0 live here, each tested in
tests/appliance/sip/test_defects.py:
- one sender worker per socket (`OneSenderOpts`): sippy's default of three
  sender threads reorders datagrams (a 180 overtook its 100);
- the transport parameter of a peer's Contact is matched case-insensitively
  (RFC 3261 s19.1.1 / s7.3.1: `transport=UDP` equals `transport=udp`); sippy
  compares with 'udp' and refuses to send BYE or re-INVITE otherwise;
- unparsable or unexpected requests get a 400 with a Warning and a log line
  saying why, and nothing the peer sends can end the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tdmgw.sip")


class SippyThread:
    """The process's one sippy thread.  `instance()` starts it on first use."""

    _lock = threading.Lock()
    _instance: SippyThread | None = None
    # sippy's loop wakes for timers on a fixed tick (100 Hz by default); a
    # hand-off from another thread can miss its wake-up and wait for the next
    # tick; at 250 Hz a hand-off round trip measured p99 0.26 ms (20 ms at
    # 100 Hz) for 2.6 % of a core when idle.
    TICK_HZ = 250.0

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._ed: Any = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="sippy", daemon=True)
        self.thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError("sippy thread failed to start") from self._error
        if self._ed is None:
            raise RuntimeError("sippy thread did not start within 10 s")

    @classmethod
    def instance(cls) -> SippyThread:
        with cls._lock:
            if cls._instance is None or not cls._instance.thread.is_alive():
                cls._instance = cls()
            return cls._instance

    def _run(self) -> None:
        try:
            from sippy.Core.EventDispatcher import ED2  # binds ED2 to this thread
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ed = ED2
        try:
            import appliance.sip.call  # noqa: F401  (sippy's UA: imported here, not on the first call)
        except Exception:
            log.exception("appliance.sip.call failed to import")
        self._ready.set()
        while True:
            try:
                ED2.loop(freq=self.TICK_HZ)
                break
            except Exception:
                log.exception("sippy event loop raised; continuing")

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) in the sippy thread, soon; exceptions are logged."""
        self._ed.callFromThread(self._guard, fn, args)

    def call_sync(self, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        """Run fn(*args) in the sippy thread and wait for its result (not from that thread)."""
        if threading.current_thread() is self.thread:
            return fn(*args)
        box: queue.Queue[tuple[bool, Any]] = queue.Queue(1)

        def work() -> None:
            try:
                box.put((True, fn(*args)))
            except BaseException as exc:
                box.put((False, exc))

        self._ed.callFromThread(work)
        ok, value = box.get(timeout=timeout)
        if not ok:
            raise value
        return value

    @staticmethod
    def _guard(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("SIP work %s failed", getattr(fn, "__qualname__", fn))

    def stop(self) -> None:
        """End the loop (process shutdown).  A later `instance()` starts a new thread."""
        if self._ed is not None and self.thread.is_alive():
            self._ed.callFromThread(self._ed.breakLoop)
            self.thread.join(5)


def transaction_manager_class() -> Any:
    """sippy's SipTransactionManager with the fixes above (import in the sippy thread)."""
    from sippy.SipRequest import SipRequest
    from sippy.SipTransactionManager import SipTransactionManager
    from sippy.Udp_server import Udp_server, Udp_server_opts

    class OneSenderOpts(Udp_server_opts):  # type: ignore[misc]
        nworkers = 1

    class FixedTransactionManager(SipTransactionManager):  # type: ignore[misc]
        model_udp_server = (Udp_server, OneSenderOpts)
        bad_input: Callable[[str, str], None] | None = None

        def newTransaction(self, msg: Any, *args: Any, **kwargs: Any) -> Any:
            if self.tclient is None:
                raise RuntimeError("SIP endpoint is shut down")
            fix_transport(msg)
            return super().newTransaction(msg, *args, **kwargs)

        def shutdown(self) -> None:
            """Cancel every transaction's timers first: sippy leaves them armed, and a
            retransmission after shutdown would run against a torn-down manager."""
            for table in (self.tclient, self.tserver):
                for t in list((table or {}).values()):
                    for name in ("teA", "teB", "teC", "teD", "teE", "teF", "teG"):
                        timer = getattr(t, name, None)
                        if timer is not None:
                            timer.cancel()
                            setattr(t, name, None)
            super().shutdown()

        def unregConsumer(self, consumer: Any, call_id: str) -> None:
            if self.req_consumers is None:
                return  # shut down: dialogs dying afterwards have nothing to unregister
            try:
                super().unregConsumer(consumer, call_id)
            except (KeyError, IndexError):
                log.debug("no consumer for call-id %s to unregister", call_id)

        def transmitReq(self, t: Any, msg: Any, *args: Any, **kwargs: Any) -> None:
            fix_transport(msg)
            super().transmitReq(t, msg, *args, **kwargs)

        def handleIncoming(self, data_in: bytes, ra: Any, server: Any, rtime: Any) -> None:
            try:
                screen = screen_datagram(data_in)
            except BadMessage as exc:
                self._refuse(data_in, ra, server, str(exc))
                return
            if screen is None:
                return
            if not data_in.startswith(b"SIP/2.0 "):
                # sippy logs and drops a request it cannot parse without answering;
                # parse the parts it needs first so the sender gets its 400.
                try:
                    req = SipRequest(data_in.decode())
                    req.getTIds()
                    req.getHFBody("via").getAddr()
                    req.getHFBody("cseq").getCSeqNum()
                    req.getHFBody("from").getTag()
                    req.getHFBody("to").getTag()
                except Exception as exc:
                    self._refuse(data_in, ra, server, f"{type(exc).__name__}: {exc}")
                    return
            try:
                super().handleIncoming(data_in, ra, server, rtime)
            except Exception as exc:
                self._refuse(data_in, ra, server, f"{type(exc).__name__}: {exc}")

        def _refuse(self, data: bytes, ra: Any, server: Any, why: str) -> None:
            if self.bad_input is not None:
                self.bad_input(str(ra), why)
            reply = bad_request_reply(data, why, ra.address)
            if reply is not None:
                server.send_to(reply, ra.address)

    return FixedTransactionManager


def fix_transport(msg: Any) -> None:
    """Lower-case a message's target transport (`transport=UDP` in a peer's Contact)."""
    try:
        addr, transport = msg.getTarget()
    except Exception:
        return
    if isinstance(transport, str) and transport != transport.lower():
        msg.setTarget((addr, transport.lower()))
    try:
        ruri = msg.getRURI()
    except Exception:
        return
    t = getattr(ruri, "transport", None)
    if isinstance(t, str) and t != t.lower():
        ruri.transport = t.lower()


class BadMessage(ValueError):
    """A datagram that is not a SIP message we can process (answered 400 when possible)."""


def screen_datagram(data: bytes) -> bytes | None:
    """Cheap checks before sippy parses: None for keep-alives, BadMessage for junk."""
    if len(data) < 32:
        if data.strip(b"\r\n\x00 ") == b"":
            return None  # RFC 5626 s3.5.1 CRLF keep-alive
        raise BadMessage("datagram too short to be a SIP message")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadMessage(f"not UTF-8 at byte {exc.start}") from exc
    first, _, rest = text.partition("\n")
    first = first.rstrip("\r")
    if first.startswith("SIP/2.0 "):
        code = first[8:11]
        if not code.isdigit():
            raise BadMessage(f"bad status line {first[:60]!r}")
        return data
    parts = first.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not parts[0].isalpha():
        raise BadMessage(f"bad request line {first[:60]!r}")
    head = rest.split("\r\n\r\n", 1)[0].lower()
    for name, compact in (("via", "v"), ("call-id", "i"), ("cseq", None), ("from", "f"), ("to", "t")):
        if f"\n{name}:" not in "\n" + head.replace(" :", ":") and (
                compact is None or f"\n{compact}:" not in "\n" + head.replace(" :", ":")):
            raise BadMessage(f"{parts[0]} without a {name} header (RFC 3261 s8.1.1)")
    return data


def bad_request_reply(data: bytes, why: str, address: tuple[str, int]) -> bytes | None:
    """A 400 built from the request's own Via/From/To/Call-ID/CSeq lines, if it has them.

    Built by hand because the request is exactly what sippy could not parse;
    responses and ACKs are never answered (RFC 3261 s17.2).
    """
    try:
        text = data.decode("utf-8", "replace")
    except Exception:
        return None
    first = text.split("\n", 1)[0].strip()
    if first.startswith("SIP/2.0") or first.startswith("ACK "):
        return None
    keep: list[str] = []
    for line in text.split("\r\n\r\n", 1)[0].split("\n")[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"):
            keep.append(line.rstrip("\r"))
    names = {k.split(":", 1)[0].strip().lower() for k in keep}
    if not ({"via", "v"} & names and {"call-id", "i"} & names and "cseq" in names):
        return None
    why = why.replace('"', "'").replace("\r", " ").replace("\n", " ")[:120]
    lines = ["SIP/2.0 400 Bad Request", *keep, f'Warning: 399 tdmgw "{why}"', "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
