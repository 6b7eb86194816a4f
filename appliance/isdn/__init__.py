"""ISDN PRI D-channel stack: Q.921 LAPD, the Q.931 codec, pcap traces.

Layers, each sans-I/O (time is passed in, bytes in, events and bytes out):

- `appliance.isdn.q921`: LAPD data link (Q.921), one `Lapd` per D-channel.
- `appliance.isdn.q931`: Q.931 message and information element codec.
- `appliance.isdn.pcap`: LINUX_LAPD (link type 177) trace writer and reader.
- `appliance.isdn.errors` / `appliance.isdn.cause`: protocol errors carrying the
  Q.850 cause to signal back, and the Q.850 cause values.
"""
