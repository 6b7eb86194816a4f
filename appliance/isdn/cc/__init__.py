"""Q.931 call control (user side and network side), sans-I/O.

- `controller.Controller`: one D-channel's call control; `receive(message, now)`,
  `l2_up(now)`, `l2_down(now)`, `get_timer()`, `handle_timer(now)` and the user
  requests (`setup`, `alerting`, `connect`, `disconnect`, `restart`, `service` ...)
  return an `events.Output` (events up, messages to send).
- `states`: the user-side and network-side state tables (Q.931 clause 5 / Annex A).
- `call.CallMachine`: the actions those tables name.
- `channels.ChannelPool`: B-channels: hunting, glare, SERVICE states, RESTART.
- `timers`: Q.931 Table 9-1/9-2 timers on injected time.
- `variants`: every switch variant's differences, as data.
- `msg.Msg` / `wire`: call control's view of a message, and the codec binding.
"""

from appliance.isdn.cc.channels import ChannelPool, ChannelState, Hunting
from appliance.isdn.cc.controller import Controller, UnknownCall
from appliance.isdn.cc.msg import ChannelSel, Msg
from appliance.isdn.cc.states import CallStateError, Ev, UnexpectedMessage
from appliance.isdn.cc.variants import PROFILES, VariantProfile, profile

__all__ = [
    "PROFILES",
    "CallStateError",
    "ChannelPool",
    "ChannelSel",
    "ChannelState",
    "Controller",
    "Ev",
    "Hunting",
    "Msg",
    "UnexpectedMessage",
    "UnknownCall",
    "VariantProfile",
    "profile",
]
