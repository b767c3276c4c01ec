"""Every reader, fed arbitrary bytes and damaged copies of valid files: a parsed result or one
clear UserError line, never another exception and never a hang (hypothesis deadline).

Cases per reader: ``RANDOM`` arbitrary byte strings plus ``MUTATED`` valid files with bytes
flipped, inserted, deleted or truncated; ``len(READERS) * (RANDOM + MUTATED)`` in all. The
line-based readers run twice: as they are, and skipping bad lines under a small length bound.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp_tasks.data.readers import read_conll, read_label_text, read_lines, read_table, reading_options
from nlp_tasks.data.vectors import read_word_vectors
from nlp_tasks.errors import UserError
from tasks.charlm import data as charlm_data
from tasks.music import data as music_data
from tests import fuzzing

RANDOM, MUTATED = 150, 150


def _valid_midi() -> bytes:
    roll = np.zeros((6, 88), np.float32)
    roll[:3, 39], roll[2:, 43] = 1, 1
    with tempfile.TemporaryDirectory() as folder:
        return music_data.write_midi(Path(folder) / "v.mid", roll, primer_steps=2).read_bytes()


VALID = {
    "conll": b"-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
             b"Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n",
    "label-text": b"4 a gorgeous , witty film\n0 dull and lifeless\n\n2 it is fine\n",
    "csv": b"text,label\n\"a gorgeous, witty film\",4\ndull,0\n",
    "tsv": b"text\tlabel\ngorgeous\t4\ndull\t0\n",
    "jsonl": b'{"text": "gorgeous", "label": 4}\n{"text": "dull", "label": "0"}\n',
    "json": b'[{"text": "gorgeous", "label": 4}, {"text": "dull", "label": 0}]',
    "text": "ROMEO: But soft, what light through yonder window breaks?\n".encode("utf-8"),
    "pianoroll": json.dumps({"train": [[[60, 64, 67], [], [62, 65]], [[21], [108]]]}).encode(),
    "vectors": b"the 0.1 0.2 0.3\ncat -0.5 0.25 1e-3\n",
    "midi": None,  # filled lazily (needs mido)
}

READERS = {
    "conll": (".txt", lambda p: read_conll(p)),
    "label-text": (".txt", read_label_text),
    "csv": (".csv", read_table),
    "tsv": (".tsv", read_table),
    "jsonl": (".jsonl", read_table),
    "json": (".json", read_table),
    "text": (".txt", lambda p: (read_lines(p), charlm_data.read_corpus(p))),
    "pianoroll": (".json", music_data.read_pianoroll_json),
    "vectors": (".txt", read_word_vectors),
    "midi": (".mid", music_data.read_midi),
}


def _skipping(reader):
    """``reader`` with bad lines skipped and a 40-character example bound (both limits' paths)."""
    def read(path):
        with reading_options(max_example_chars=40, on_bad_lines="skip"):
            return reader(path)
    return read


for _kind in ("conll", "label-text", "csv", "jsonl"):
    READERS[f"{_kind}-skip"] = (READERS[_kind][0], _skipping(READERS[_kind][1]))
    VALID[f"{_kind}-skip"] = VALID[_kind]
READERS["text-lines-separated"] = (".txt", _skipping(
    lambda p: charlm_data.read_corpus(p, mode="lines", separator=" ")))
VALID["text-lines-separated"] = b"a e r _ b a n k\nb e r l i t z\n"


def _check(kind: str, data: bytes) -> None:
    suffix, reader = READERS[kind]
    fd, name = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            reader(Path(name))
        except UserError as err:
            assert err.message.strip() and "\n" not in err.message, repr(err.message)
    finally:
        os.unlink(name)


@st.composite
def mutated(draw, kind):
    return draw(fuzzing.mutated(VALID[kind] if VALID[kind] is not None else _valid_midi()))


def fuzz(examples):
    # Random inputs on developers' machines, to keep finding new cases; a fixed sequence in CI
    # (CI=true), so that a submission's CI result does not depend on the draw.
    return settings(max_examples=examples, deadline=2000, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=os.environ.get("CI", "").lower() == "true")


@pytest.mark.parametrize("kind", sorted(READERS))
def test_arbitrary_bytes(kind):
    @fuzz(RANDOM)
    @given(st.binary(max_size=600))
    def run(data):
        _check(kind, data)

    run()


@pytest.mark.parametrize("kind", sorted(READERS))
def test_damaged_valid_files(kind):
    @fuzz(MUTATED)
    @given(mutated(kind))
    def run(data):
        _check(kind, data)

    run()


@pytest.mark.parametrize("kind", sorted(READERS))
def test_the_valid_files_parse(kind):
    data = VALID[kind] if VALID[kind] is not None else _valid_midi()
    suffix, reader = READERS[kind]
    fd, name = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    try:
        result = reader(Path(name))
        assert len(result) > 0
    finally:
        os.unlink(name)
