"""Media DSP as array code over (channels, samples): G.711, echo, DTMF, tones, levels."""
