"""Messages between the gateway processes over unix datagram sockets.

`wire` holds the pure codec (Event, Status, Heartbeat), `channel` the
non-blocking sender and the receiver, `bus` the core's event publisher.
"""

from .bus import EventBus
from .channel import DatagramReceiver, DatagramSender, SenderStats
from .wire import Event, Heartbeat, Message, Status, WireError, decode, encode

__all__ = [
    "DatagramReceiver",
    "DatagramSender",
    "Event",
    "EventBus",
    "Heartbeat",
    "Message",
    "SenderStats",
    "Status",
    "WireError",
    "decode",
    "encode",
]
