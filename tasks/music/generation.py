"""Music generation: its settings, declared once (:class:`GenerateSettings`: ``music generate``,
the server's ``generate`` operation and :meth:`MusicPipeline.generate`), and the loop that draws
frames, in one compiled graph or step by step.

A piece from silence starts from a recorded opening of the training pieces, drawn by its
frequency (:mod:`tasks.music.pipeline` says why); each later frame's 88 keys are drawn from the
model's head and fed back in.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nlp_tasks.config import (
    MAX_SAMPLES,
    MAX_STEPS,
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    GenerationSettings,
    check_temperature,
    setting,
)
from nlp_tasks.saving.model_checks import OUTPUT_LAYER

from . import data as md


@dataclasses.dataclass(frozen=True)
class GenerateSettings(GenerationSettings):
    """How music is generated: time steps, temperature, seed, the MIDI file's tempo, pieces at once."""

    steps: int = setting(64, "Time steps to generate.", low=1, high=MAX_STEPS)
    temperature: float = setting(1.0, "Below 1: safer; above 1: wilder; 0: every key above probability 0.5 "
                                 f"(else {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}).")
    tempo: float = setting(100.0, f"Beats per minute of the MIDI file and the audio, {md.MIN_TEMPO_BPM} to "
                           f"{md.MAX_TEMPO_BPM} (a MIDI file holds nothing slower); a continuation of a MIDI "
                           "primer keeps the primer's tempo unless this is given.", low=md.MIN_TEMPO_BPM,
                           high=md.MAX_TEMPO_BPM)
    samples: int = setting(1, "Pieces generated together as one batch.", low=1, high=MAX_SAMPLES)

    def __post_init__(self):
        check_temperature(self.temperature)  # its message before the ranges'
        super().__post_init__()


def generate_frames(pipe, n: int, steps: int, primer_roll, seed, temperature: float, in_graph: bool = True):
    """``(steps, n, 88)`` frames drawn after ``primer_roll``. In one compiled loop
    (:class:`nlp_tasks.decoding.generator.GraphGenerator`; stream ``i`` draws with key ``seed + i``), or,
    with ``in_graph=False``, step by step with a NumPy generator seeded by ``seed`` (the earlier
    sampler, which the benchmark measures against)."""
    from nlp_tasks.decoding.sampling import stream_keys
    from nlp_tasks.decoding.stepper import run_generation

    head = pipe.head
    openings = _usable_openings(pipe.metrics) if not len(primer_roll) else None
    silence = np.zeros((n, md.KEYS), np.float32)  # x<1> = 0
    primer_inputs = [np.repeat(row[None], n, axis=0) for row in primer_roll]
    if in_graph:
        generator = _graph_generator(pipe, head, float(temperature), openings)
        return generator(np.stack([silence, *primer_inputs]), steps, stream_keys(seed, n))
    rng = np.random.default_rng(seed)

    def draw(t, logits):
        if t == 0 and openings:
            return _draw_openings(openings, n, rng, greedy=temperature == 0)
        uniforms = rng.random((n, md.KEYS)) if temperature else None
        return head.draw(logits, uniforms, temperature)

    return np.stack(run_generation(pipe.step_function(), [silence, *primer_inputs], n, steps, draw))


def _graph_generator(pipe, head, temperature: float, openings):
    """The compiled generation loop for this model, temperature and recorded openings."""
    import json

    import tensorflow as tf

    from nlp_tasks.decoding.generator import GraphGenerator
    from nlp_tasks.decoding.sampling import stream_uniforms

    model = pipe.require_model()
    if pipe._generators.get("model") is not model:  # built for another model object: start again
        pipe._generators = {"model": model}
    options = (temperature, json.dumps(openings))
    if options not in pipe._generators:
        if openings:
            table = np.zeros((len(openings), md.KEYS), np.float32)
            for row, (keys, _) in enumerate(openings):
                table[row, keys] = 1.0
            counts = np.cumsum([count for _, count in openings]).astype(np.float64)

        def draw(t, outputs, keys):
            uniforms = stream_uniforms(keys, t, md.KEYS)  # (n, 88): this step's numbers of each stream
            frame = head.graph_draw(outputs, uniforms, temperature)
            if not openings:
                return frame
            # Step 1 from silence: a recorded opening, drawn by its count (the most frequent when greedy).
            pick = (tf.zeros_like(keys, tf.int32) if temperature == 0 else
                    tf.reduce_sum(tf.cast(tf.constant(counts)[None, :] <= uniforms[:, :1] * counts[-1], tf.int32), -1))
            return tf.where(tf.equal(t, 0), tf.gather(tf.constant(table), pick), frame)

        pipe._generators[options] = GraphGenerator(
            [model.get_layer(f"rnn_{i}").cell for i in range(1, pipe.config.layers + 1)],
            model.get_layer(OUTPUT_LAYER), draw)
    return pipe._generators[options]


# ---------------------------------------------------------------------- helpers
def opening_frames(pieces, limit: int = 256) -> list[list]:
    """The distinct first frames of ``pieces`` as ``[[keys...], count]``, most frequent first
    (ties by keys), at most ``limit`` of them: JSON for ``pipeline.json``."""
    from collections import Counter

    counts = Counter(tuple(int(k) for k in np.flatnonzero(np.asarray(p[0]) > 0.5)) for p in pieces if len(p))
    return [[list(keys), count] for keys, count in sorted(counts.items(), key=lambda kc: (-kc[1], kc[0]))][:limit]


def _usable_openings(metrics: dict) -> list | None:
    """The recorded openings of a (possibly hand-edited) ``pipeline.json``, None if absent or odd."""
    openings = (metrics.get("training") or {}).get("openings") if isinstance(metrics, dict) else None
    if not isinstance(openings, list) or not openings:
        return None
    for entry in openings:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)
                and all(isinstance(k, int) and 0 <= k < md.KEYS for k in entry[0])
                and isinstance(entry[1], int) and entry[1] > 0):
            return None
    return openings


def _draw_openings(openings, n: int, rng, greedy: bool = False) -> np.ndarray:
    """``n`` frames, each a recorded opening drawn by its count (the most frequent when greedy)."""
    counts = np.array([count for _, count in openings], dtype=np.float64)
    picks = np.zeros(n, dtype=int) if greedy else rng.choice(len(openings), size=n, p=counts / counts.sum())
    frames = np.zeros((n, md.KEYS), np.float32)
    for row, pick in enumerate(picks):
        frames[row, openings[pick][0]] = 1.0
    return frames
