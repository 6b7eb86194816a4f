"""Adapters to real peers no one here wrote (libpri, speexdsp, spandsp, sipp...)."""
