"""The metrics package: classification scores against hand-computed values."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nlp_tasks.errors import UserError
from nlp_tasks.metrics import classification_report, confusion_matrix, format_classification_report


def test_the_package_imports_neither_matplotlib_nor_tensorflow():
    code = ("import sys, nlp_tasks.metrics; "
            "print([m for m in ('matplotlib', 'tensorflow', 'keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------- classification
def test_classification_report_by_hand():
    # gold a a b c, predicted a b b b: matrix rows gold, columns predicted.
    report = classification_report([0, 0, 1, 2], [0, 1, 1, 1], ["a", "b", "c"])
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert report["accuracy"] == 0.5 and report["examples"] == 4
    a, b, c = (report["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == (1.0, 0.5, pytest.approx(2 / 3), 2)
    assert (b["precision"], b["recall"], b["f1"]) == (pytest.approx(1 / 3), 1.0, pytest.approx(0.5))
    assert (c["precision"], c["recall"], c["f1"]) == (0.0, 0.0, 0.0)  # never predicted: 0, not NaN
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0) / 3)
    json.dumps(report)  # plain Python
    text = format_classification_report(report)
    assert "accuracy  0.5000   (4 examples)" in text and "confusion matrix (rows: gold" in text


def test_classification_errors():
    assert confusion_matrix([1], [0], 2).tolist() == [[0, 0], [1, 0]]
    with pytest.raises(UserError, match="2 gold labels but 1 predictions"):
        confusion_matrix([0, 1], [0], 2)
    with pytest.raises(UserError, match="no examples"):
        classification_report([], [], ["a"])
