"""The piano-roll synthesiser behind the server's audio (tasks/music_audio.py)."""

from __future__ import annotations

import io
import wave

import numpy as np

from tasks.music.audio import PEAK, SAMPLE_RATE, frequency, render_wav, synthesize
from tasks.music.data import KEYS, LOW


def roll_of(steps: list[list[int]]) -> np.ndarray:
    roll = np.zeros((len(steps), KEYS), np.float32)
    for t, pitches in enumerate(steps):
        roll[t, [p - LOW for p in pitches]] = 1
    return roll


def test_a_note_sounds_at_its_pitch_for_its_length():
    samples = synthesize(roll_of([[69], [69], []]), steps_per_quarter=1, tempo_bpm=60)  # A4 held 2 s, then 1 s rest
    assert frequency(69) == 440.0 and frequency(81) == 880.0
    held = samples[: 2 * SAMPLE_RATE]
    spectrum = np.abs(np.fft.rfft(held))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(held) - 440.0) < 1.0  # the fundamental is the loudest
    assert abs(np.abs(samples).max() - PEAK) < 1e-9
    assert np.abs(samples[int(2.1 * SAMPLE_RATE):]).max() == 0  # silent after the release
    assert len(samples) >= 3 * SAMPLE_RATE


def test_repeated_steps_are_one_note_and_chords_add_up():
    two = synthesize(roll_of([[60], [60]]), tempo_bpm=120)
    split = synthesize(roll_of([[60], [], [60]]), tempo_bpm=120)
    step = SAMPLE_RATE // 2

    def rms(x, at):
        return float(np.sqrt(np.mean(x[at - 400:at + 400] ** 2)))

    assert rms(two, step) > 0.5 * rms(two, step // 2)  # held through the step boundary: no fade, no gap
    assert rms(two, step) > rms(two, step + 400)  # and decaying like one struck note, not struck again
    assert np.abs(split[int(1.2 * step):int(1.9 * step)]).max() < 1e-6  # a rest between two notes
    chord = synthesize(roll_of([[60, 64, 67]]))
    assert np.abs(chord).max() == PEAK  # scaled, never clipped


def test_wav_file_and_silence():
    data = render_wav(roll_of([[60, 64], [62], []]), steps_per_quarter=2, tempo_bpm=100)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        assert abs(w.getnframes() / SAMPLE_RATE - 3 * 0.3) < 0.1  # 3 eighth-note steps at 100 bpm, + release
    silent = synthesize(roll_of([[], []]))
    assert not silent.any()
