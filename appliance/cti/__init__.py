"""The CTI process: events from the core, to AMI, WebSocket and webhook clients."""
