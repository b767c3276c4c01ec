"""Pieces from any source a music command takes: a piano-roll JSON file (``file.json:split``), a
MIDI file or folder (:mod:`tasks.music.data`), ``builtin:bach-chorales``
(:mod:`tasks.music.chorales`), or Python lists of time steps / arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nlp_tasks.data.sources import no_split_for_file, resolve_source
from nlp_tasks.errors import UserError

from .chorales import bach_chorales
from .data import BUILTIN, MIDI_SUFFIXES, read_midi, read_midi_folder, read_pianoroll_json, to_roll


def read_pieces(source, split: str = "train", steps_per_quarter: int = 1) -> list[np.ndarray]:
    """Pieces from a JSON file (``file.json:split``), a MIDI file or folder, the built-in corpus,
    or Python lists of time steps / arrays."""
    if isinstance(source, (list, tuple)):
        if not source:
            raise UserError("no pieces given")
        return [np.asarray(p, dtype=np.float32) if isinstance(p, np.ndarray) else to_roll(p, f"piece {i + 1}")
                for i, p in enumerate(source)]
    name = str(source)
    if name.startswith("builtin:"):
        base, _, chosen = name.partition(":")[2].partition(":")
        if f"builtin:{base}" != BUILTIN:
            raise UserError(f"unknown built-in corpus {name!r} (known: {BUILTIN})")
        pieces = bach_chorales(chosen or split, steps_per_quarter)
        if not pieces:  # training, evaluating or predicting on nothing is never a success
            raise UserError(f"{name}: no pieces in the {chosen or split!r} split")
        return pieces
    kind, name, chosen = resolve_source(name)  # "file.json:valid"
    path, split = Path(name), chosen or split
    if kind == "hub":
        raise UserError(f"{name}: file not found (music reads local JSON and MIDI files, or {BUILTIN})")
    if kind == "folder":
        no_split_for_file(name, chosen)
        return read_midi_folder(path, steps_per_quarter)
    if path.suffix.lower() in MIDI_SUFFIXES:
        no_split_for_file(name, chosen)
        return [read_midi(path, steps_per_quarter)]
    return read_pianoroll_json(path, split)
