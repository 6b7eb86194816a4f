"""tdmgw appliance: the gateway's protocol cores (ISDN, SIP, CTI) and runtime."""

__version__ = "0.1.0"
