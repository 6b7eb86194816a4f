"""The gateway's SIP side, on sippy 2.5.0 run in one dedicated thread.

Public interfaces (for the gateway core):

- `appliance.sip.endpoint.SipEndpoint(settings, loop, on_event)`: `start() ->
  (address, port)`, `place_call(trunk, request_uri_user, facts, sdp_offer,
  extra_headers=()) -> SipCallHandle` (returns at once; the outcome comes as
  events), `close()`; `health[trunk].order()`, `counters`.
- `appliance.sip.trunks.EndpointSettings.from_config(config.sip)` and
  `TrunkSpec` (what the endpoint knows about a trunk).
- `appliance.sip.handle.SipCallHandle`: `provisional(status, sdp=None,
  reliable=None)`, `answer(sdp)`, `reject(status=None, cause=None)`,
  `hangup(cause=None)`, `reinvite(local, direction)`, `hold(on)`; `sdp` is an
  SDP string or a `LocalMedia` (the answer is then built from the offer).
- `appliance.sip.events`: `IncomingCall`, `Provisional`, `Answered`, `Failed`,
  `Hangup`, `MediaChanged`, `DtmfInfo`, `TrunkStatus`, `RegistrationStatus`,
  `Refused`, delivered with `loop.call_soon_threadsafe(on_event, event)`.
- `appliance.sip.sdp`: `LocalMedia`, `RemoteMedia`, `offer()`, `answer()`,
  `remote_media()`, `SdpError` (pure functions over sippy's SdpBody).

Sans-I/O pieces (injected time): `security.Gatekeeper`, `health.TrunkHealth`,
`register.RegistrationTimer`, `reliable.ReliableProvisional` / `SessionTimer`.
`appliance.sip.msg`: exact-spelling headers and header values over sippy messages.
Import `appliance.sip.call` only in the sippy thread (it imports sippy's UA,
which binds sippy's event loop to the importing thread); the endpoint does.
"""
