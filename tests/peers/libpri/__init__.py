"""libpri 1.6 as a real ISDN peer: the product's copy (appliance/demo/libpri.py), re-exported.

The simulated PBX of the embedded default (appliance.demo) loads libpri with
ctypes; the tests use that same module, so there is one copy of the binding.
"""

from appliance.demo import libpri_abi as abi
from appliance.demo.libpri import *  # noqa: F403
from appliance.demo.libpri import _LOGS, _b, _log, _subcommands  # noqa: F401

__all__ = ["abi"]  # plus everything appliance.demo.libpri defines
