"""Tones: call progress tones (generation and cadence detection) and the 2100 Hz answer tone.

The answer tone detector for the echo canceller's tone disabler lives in
``dsp.answer_tone`` and is re-exported here: ``AnswerToneDetector``,
``AnswerTone``, ``answer_tone``.
"""

from __future__ import annotations

from dsp.answer_tone import AnswerTone, AnswerToneDetector, answer_tone

__all__ = ["AnswerTone", "AnswerToneDetector", "answer_tone"]
