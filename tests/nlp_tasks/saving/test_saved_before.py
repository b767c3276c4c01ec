"""Models saved by an earlier nlp-tasks still load and answer as they did.

``tests/data/saved-0.1.0/`` holds tiny saved models of every task, written by nlp-tasks 0.1.0
before the tasks became packages (their ``model.keras`` names modules such as
``tasks.ner_layers``), and ``expected.json`` what they answered then
(``tests/models.py``'s tiny models, saved with the code of that day). A change of layout or a
refactor must not change a saved model's meaning.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests import TESTS

SAVED = TESTS / "data" / "saved-0.1.0"
EXPECTED = json.loads((SAVED / "expected.json").read_text(encoding="utf-8"))


def _close(got, want):
    """Equal, floats to 1e-5."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (got, want)
        for key in want:
            _close(got[key], want[key])
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (got, want)
        for a, b in zip(got, want):
            _close(a, b)
    elif isinstance(want, float):
        assert np.isclose(got, want, rtol=1e-5, atol=1e-6), (got, want)
    else:
        assert got == want


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A copy (loading may finish an interrupted save in place; the originals stay as committed)."""
    root = tmp_path_factory.mktemp("saved-0.1.0")
    for folder in SAVED.iterdir():
        if folder.is_dir():
            shutil.copytree(folder, root / folder.name)
    return root


@pytest.mark.parametrize("task, answer", [
    ("ner", lambda pipe: pipe.analyse(["Peter visited Paris and Mu\u0308nchen ."])),
    ("sentiment", lambda pipe: pipe.predict(["good film", "bad film , dull"])),
    ("charlm", lambda pipe: pipe.score(["abc", "cab"])),
    ("music", lambda pipe: pipe.generate(steps=4, seed=3)),
    ("music-nade", lambda pipe: pipe.generate(steps=3, seed=5)),
])
def test_a_model_saved_by_0_1_0_loads_and_answers_as_it_did(saved, task, answer):
    from nlp_tasks.pipeline import Pipeline

    _close(answer(Pipeline.load(saved / task)), EXPECTED[task])
