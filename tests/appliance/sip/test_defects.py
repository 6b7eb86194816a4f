"""One test per sippy 2.5.0 defect the runtime adapts (see appliance/sip/runtime.py).

Each test first shows the stock behaviour, then ours.  The end-to-end checks
with sipp are in test_sipp_calls.py (upper-case transport: BYE sent; PRACK,
UPDATE and session timers: the uac_/uas_ scenarios; registration Expires and
refresh: registrar.xml).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from appliance.sip.runtime import SippyThread, fix_transport, transaction_manager_class


def _in_sippy(fn: Any) -> Any:
    return SippyThread.instance().call_sync(fn)


def _request(transport: str) -> Any:
    from sippy.SipRequest import SipRequest
    from sippy.SipURL import SipURL

    return SipRequest(f"BYE sip:a@127.0.0.1:9;transport={transport} SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nFrom: <sip:b@h>;tag=1\r\n"
                      "To: <sip:a@h>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
                      ), SipURL


def test_upper_case_transport_stock_sippy_refuses_to_send() -> None:
    def run() -> tuple[str, str]:
        from sippy.SipTransactionManager import SipTransactionManager

        req, _ = _request("UDP")
        req.setTarget(req.getRURI().getTAddr())
        cfg: dict[str, Any] = {"_sip_address": "127.0.0.1", "_sip_port": 0,
                               "_sip_logger": _Quiet()}
        stock = SipTransactionManager(cfg, None)
        try:
            stock.newTransaction(req)
            stock_result = "sent"
        except RuntimeError as exc:
            stock_result = str(exc)
        finally:
            stock.shutdown()
        req2, _ = _request("UDP")
        req2.setTarget(req2.getRURI().getTAddr())
        fixed = transaction_manager_class()(dict(cfg), None)
        try:
            t = fixed.newTransaction(req2)
            ours = "sent" if t is not None else "none"
            t.teA.cancel()
            t.teB.cancel()
        finally:
            fixed.shutdown()
        return stock_result, ours

    stock, ours = _in_sippy(run)
    assert "unsupported transport: UDP" in stock
    assert ours == "sent"


def test_fix_transport_lowercases_target_and_ruri() -> None:
    req, _ = _request("UDP")
    req.setTarget((("127.0.0.1", 9), "UDP"))
    fix_transport(req)
    assert req.getTarget()[1] == "udp" and req.getRURI().transport == "udp"


class _Quiet:
    def write(self, *args: Any, **kw: Any) -> None:
        pass


def test_one_sender_worker_keeps_datagram_order() -> None:
    """Stock sippy runs 3 sender threads per socket (a 180 overtook its 100); we run one."""
    from sippy.Udp_server import Udp_server_opts

    assert Udp_server_opts.nworkers == 3
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    dest = rx.getsockname()

    def run() -> int:
        tm = transaction_manager_class()({"_sip_address": "127.0.0.1", "_sip_port": 0,
                                          "_sip_logger": _Quiet()}, None)
        server = next(iter(tm.l4r.cache_l2s.values()))
        n = len(server.asenders)
        for i in range(150):
            server.send_to(f"{i:04d}".encode() * 10, dest)
        _servers.append(tm)
        return n

    _servers: list[Any] = []
    assert _in_sippy(run) == 1
    got = [int(rx.recv(100)[:4]) for _ in range(150)]
    rx.close()
    _in_sippy(lambda: _servers[0].shutdown())
    assert got == sorted(got)


def test_runtime_logs_exceptions_and_keeps_running(caplog: pytest.LogCaptureFixture) -> None:
    rt = SippyThread.instance()

    def boom() -> None:
        raise ValueError("deliberate")

    rt.call(boom)
    assert rt.call_sync(lambda: 42) == 42
    assert any("deliberate" in (r.exc_text or "") or "boom" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(ValueError):
        rt.call_sync(boom)
