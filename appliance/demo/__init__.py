"""The embedded default's far ends: a simulated PBX on libpri and a voice-AI stand-in.

- `libpri` / `libpri_abi`: Debian's libpri 1.6 loaded with ctypes (the PBX's
  ISDN stack; tests/peers/libpri re-exports these, one copy only).
- `pbx.SimulatedPbx`: libpri (network side) behind the virtual span's far end,
  placing and answering calls on a loop, with a tone on its B-channels.
- `voiceai.VoiceAi`: a pjsua2 endpoint (at most 4 calls, the wheel's limit)
  answering, playing a prompt and repeating back DTMF.
"""
