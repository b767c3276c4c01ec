"""A piano roll as sound: a small additive synthesiser that writes a WAV file (no sound font needed).

Each note (a key held over consecutive steps, :func:`tasks.music.data.notes`) is a tone of a few
harmonics of its equal-tempered frequency, ``f = 440 * 2 ** ((pitch - 69) / 12)``, shaped by a
short attack, an exponential decay like a struck string, and a short release so that notes end
without a click. The notes are summed and the mix scaled to a fixed peak, then written as 16-bit
mono PCM with Python's :mod:`wave`. A struck note sounds the same whatever its length until its
key is let go, so each pitch's decaying tone is computed once and every note of that pitch adds a
slice of it: the work grows with the audio's length and the notes held, not with harmonics x
notes, and a note is cut once it has decayed below 16-bit PCM's step (:data:`AUDIBLE_S`).
It is meant for listening to what a model generated in a
browser (``nlp-tasks serve``), not as a piano::

    >>> wav = render_wav(roll, steps_per_quarter=1, tempo_bpm=100)      # doctest: +SKIP
    >>> Path("piece.wav").write_bytes(wav)                              # doctest: +SKIP
"""

from __future__ import annotations

import collections
import io
import math
import wave

import numpy as np

from .data import notes

SAMPLE_RATE = 22_050
HARMONICS = (1.0, 0.45, 0.22, 0.1)  # relative amplitudes of the 1st..4th harmonics
ATTACK_S, RELEASE_S, DECAY_PER_S = 0.008, 0.06, 1.6
PEAK = 0.8  # of full scale, so that the sum of loud chords does not clip
AUDIBLE_S = 20 * math.log(2) / DECAY_PER_S  # 8.7 s: a held note has decayed by 2**-20, below 16-bit PCM's step


def frequency(pitch: int) -> float:
    """Equal-tempered frequency of a MIDI pitch (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def struck(pitch: int, seconds: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The first ``seconds`` of ``pitch`` struck and held: its harmonics (those below Nyquist)
    under the attack and the decay."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f = frequency(pitch)
    tone = sum(a * np.sin(2 * np.pi * f * (k + 1) * t) for k, a in enumerate(HARMONICS)
               if f * (k + 1) < sample_rate / 2)
    return tone * (np.minimum(t / ATTACK_S, 1.0) * np.exp(-DECAY_PER_S * t))


def synthesize(roll, steps_per_quarter: int = 1, tempo_bpm: float = 100.0,
               sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Float samples in [-PEAK, PEAK] of ``roll`` (T steps of 88 keys) at ``tempo_bpm``."""
    roll = np.asarray(roll)
    step_s = 60.0 / tempo_bpm / steps_per_quarter
    total = int(round(len(roll) * step_s * sample_rate)) + int(RELEASE_S * sample_rate) + 1
    out = np.zeros(total, np.float64)
    spans = collections.defaultdict(list)  # pitch -> (on, off) steps of its notes
    for pitch, on, off in notes(roll):
        spans[pitch].append((on, off))
    for pitch, held_steps in spans.items():
        longest = max(off - on for on, off in held_steps) * step_s
        tone = struck(pitch, min(longest, AUDIBLE_S) + RELEASE_S, sample_rate)
        for on, off in held_steps:
            begin = int(round(on * step_s * sample_rate))
            held = (off - on) * step_s
            end = min(int((held + RELEASE_S) * sample_rate), len(tone), total - begin)
            down = min(int(held * sample_rate) + 1, end)  # samples at t <= held: the key is still down
            out[begin:begin + down] += tone[:down]
            t = np.arange(down, end) / sample_rate  # then a fade out after the key is let go
            out[begin + down:begin + end] += tone[down:end] * np.clip((held + RELEASE_S - t) / RELEASE_S, 0.0, 1.0)
    peak = np.abs(out).max()
    return out * (PEAK / peak) if peak > 0 else out


def render_wav(roll, steps_per_quarter: int = 1, tempo_bpm: float = 100.0, sample_rate: int = SAMPLE_RATE) -> bytes:
    """The bytes of a 16-bit mono WAV file of ``roll`` (:func:`synthesize`)."""
    samples = synthesize(roll, steps_per_quarter, tempo_bpm, sample_rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return buffer.getvalue()
