"""Exports over earlier exports and killed exports (issue 38 items 1 and 8), and text in other code points (item 7).

An export replaces only what the previous export's ``export.json`` lists (and a model card that
is still ours); a user's own ``README.md``, ``vocab-mine.json`` or ``mymodel.onnx`` in the folder
is kept, or, when the new export needs the name, refused in one line naming it. A kill during an
export leaves nothing in the system's temporary folder (TensorFlow's AutoGraph files go to a
scratch folder inside the export's own temporary folder), and the next export cleans up after it.
"""

from __future__ import annotations

import os
import signal
import subprocess as sp
import sys
import time
from pathlib import Path

from tests.faults.harness import ROOT, Case

MINE = {"vocab-mine.json": '{"mine": true}\n', "mymodel.onnx": "not really onnx, but mine\n",
        "notes.txt": "my notes\n"}


def _export(models, out: Path, fmt: str = "savedmodel") -> list[str]:
    return ["sentiment", "export", models["sentiment"], "--format", fmt, "--out", out]


def _exported(tmp: Path, models, fmt: str = "savedmodel") -> Path:
    from nlp_tasks.cli import main as cli

    out = tmp / "exported"
    assert cli.main([str(a) for a in _export(models, out, fmt)]) == 0
    for name, text in MINE.items():
        (out / name).write_text(text, encoding="utf-8")
    return out


def users_files_kept(tmp, models):
    return _export(models, _exported(tmp, models))


def check_users_files_kept(tmp, result):
    out = tmp / "exported"
    for name, text in MINE.items():
        assert (out / name).read_text(encoding="utf-8") == text, name
    assert (out / "export.json").is_file() and (out / "saved_model.pb").is_file()


def users_readme(tmp, models):
    out = _exported(tmp, models)
    (out / "README.md").write_text("# my own notes on this export\n", encoding="utf-8")
    return _export(models, out)


def check_users_readme(tmp, result):
    out = tmp / "exported"
    assert (out / "README.md").read_text(encoding="utf-8") == "# my own notes on this export\n"
    check_users_files_kept(tmp, result)


def other_format(tmp, models):
    """A SavedModel export replaced by an ONNX one: the SavedModel's files go, the user's stay."""
    return _export(models, _exported(tmp, models), "onnx")


def check_other_format(tmp, result):
    out = tmp / "exported"
    for name, text in MINE.items():
        assert (out / name).read_text(encoding="utf-8") == text, name
    assert (out / "classify_ids.onnx").is_file()
    assert not (out / "saved_model.pb").exists() and not (out / "variables").exists()


def killed_export(tmp, models):
    """``sentiment export`` killed (SIGKILL) while AutoGraph converts its functions, then run again."""
    scratch_tmp = tmp / "system-tmp"
    scratch_tmp.mkdir()
    out = tmp / "exported"
    env = {**os.environ, "TMPDIR": str(scratch_tmp), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = sp.Popen([sys.executable, str(ROOT / "cli.py"), *map(str, _export(models, out, "onnx"))], env=env,
                    stdout=sp.DEVNULL, stderr=sp.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if any(tmp.glob(".exported.*.tmp/.scratch/__autograph_generated_file*.py")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the export finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert list(tmp.glob(".exported.*.tmp")), "the kill left no temporary folder: the case tests nothing"
    return _export(models, out, "onnx")


def check_killed_export(tmp, result):
    assert not list((tmp / "system-tmp").iterdir()), list((tmp / "system-tmp").iterdir())
    assert not list(tmp.glob(".exported.*")), list(tmp.glob(".exported.*"))
    assert (tmp / "exported" / "classify_ids.onnx").is_file()


CASES = [
    Case("38.1", "an export over an earlier one keeps the user's vocab-mine.json, mymodel.onnx and notes", exit=0,
         setup=users_files_kept, check=check_users_files_kept),
    Case("38.1", "an export over an earlier one refuses to overwrite the user's own README.md",
         setup=users_readme, error=r"README\.md is in the way", check=check_users_readme),
    Case("38.1", "an ONNX export over a SavedModel export removes only the SavedModel's files", exit=0,
         setup=other_format, check=check_other_format),
    Case("38.8", "an export killed mid-way leaves no AutoGraph files behind; the next export cleans up", exit=0,
         setup=killed_export, check=check_killed_export),
]


# ---------------------------------------------------------------- item 7: the same text in other code points
def decomposed_text(tmp, models):
    """NFD "München" and format characters (BOM, ZWJ, soft hyphen) around the words."""
    return ["ner", "predict", models["ner"], "--format", "tags", "--json",
            "\ufeffPeter visited Mu\u0308nchen \u200d and Pa\u00adris"]


def check_decomposed_text(tmp, result):
    import json

    (found,) = json.loads(result.out)
    assert found["tokens"] == ["Peter", "visited", "München", "and", "Paris"], found["tokens"]


CASES.append(Case("38.7", "NFD text and format characters give the NFC tokens, none invisible", exit=0,
                  setup=decomposed_text, check=check_decomposed_text))
