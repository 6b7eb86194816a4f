"""Calls across the gateway: routing, the ISDN<->SIP call bridge, and the runtime part.

- `routing.Router`: inbound/outbound rules, number normalisation, per-trunk limits.
- `bridge.Bridge`: one call's interworking state machine (sans-I/O, a table).
- `runtime.GatewayPart`: the core part wiring spans (in the media processes),
  Q.921/Q.931, the SIP endpoint, the media plane and CTI events together.
- `media.MediaPlane`: the spans shared out over media processes (`media.processes`),
  requests routed by span and call, a process that dies restarted; `media.PortPool`.
"""
