"""ISDN PRI D-channel stack: Q.921 LAPD, the Q.931 codec, pcap traces.

Every layer is sans-I/O: time is passed in, bytes go in, events and bytes
come out.  Public interfaces:

- `appliance.isdn.q921`: `Lapd(side, now=0.0, config=LapdConfig())` with
  `establish(now)`, `release(now)`, `send_data(payload, now)`,
  `receive(frame, now)`, `handle_timer(now)` (each returns a list of events),
  `get_timer()`, `frames_to_send()`, `is_up`, `state`; events `LinkUp`,
  `LinkDown`, `DataIndication`, `UnitDataIndication`, `MdlError`;
  `Side.USER` / `Side.NETWORK`.  Frame codec in `q921_frames`.
- `appliance.isdn.q931`: `decode_message(data, *, variant=None) -> Message`,
  `Message.encode()`, `message(type, cr, flag, *ies)`, the IE dataclasses and
  the code-point IntEnums (see that package's docstring).
- `appliance.isdn.pcap`: `PcapWriter(stream, network_side=...)` with
  `write(frame, timestamp, outgoing=...)`; `read_pcap(data)`.
- `appliance.isdn.errors`: `Q931Error(cause, detail, diagnostic=, ignore=)`,
  `Q921Error`, `BerError`; `appliance.isdn.cause`: `CauseValue`, `Location`
  (Q.850).
"""
