"""Span drivers: DAHDI cards through /dev/dahdi, and a virtual span over sockets."""
