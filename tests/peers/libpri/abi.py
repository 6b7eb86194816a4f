"""ctypes mirror of libpri's structures: the product's copy (appliance/demo/libpri_abi.py)."""

from appliance.demo.libpri_abi import *  # noqa: F403
