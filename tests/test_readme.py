"""The README's Python examples run and print what the README says."""

from __future__ import annotations

import re

from tests import REPO as ROOT


def python_blocks():
    """(file, block) for the README and then every page of docs/, in order."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [(str(page.relative_to(ROOT)), block) for page in pages
            for block in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)]


def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples save files
    blocks = python_blocks()
    assert len(blocks) >= 2
    for name, block in blocks:
        exec(compile(block, name, "exec"), {})


def test_readme_vocabulary_comments_are_true():
    from nlp_tasks.text.vocab import Vocabulary

    words = Vocabulary.build(["The cat sat .", "The dog sat ."], level="word", max_size=10_000, min_freq=1)
    assert words.tokens[:7] == ["<pad>", "<unk>", "<bos>", "<eos>", ".", "The", "sat"]
    assert words.encode("The bird sat") == [5, 1, 6]
    assert words.encode_batch(["The cat", "sat"], add_eos=True).tolist() == [[5, 7, 3], [6, 3, 0]]
