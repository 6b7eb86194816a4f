"""The media plane: RTP clocked by the span, with the DSP in the path (issue 9).

Sans-I/O pieces (`rtp`, `rtcp`, `dtmf_events`, `cn`, `jitter`, `plc`, `srtp`)
hold no sockets and no clocks; `engine` runs them per span block for every
channel at once, and `process` puts the engine in a process of its own with a
control API the SIP/call layer drives.
"""
