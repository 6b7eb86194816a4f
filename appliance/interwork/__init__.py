"""ISDN <-> SIP interworking of call facts: numbers, names, redirection, UUI, causes.

Pure functions over variant-neutral facts (`appliance.interwork.facts`): the ISDN
side converts its IEs into facts, the SIP side turns facts into header values and
back, and CTI events carry the same facts unchanged.
"""
