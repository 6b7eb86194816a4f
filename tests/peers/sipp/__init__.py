"""sipp (Debian sip-tester) as an independent SIP peer: XML scenarios and a runner."""
