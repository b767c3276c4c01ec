"""The process-wide settings of nlp_tasks.runtime: glibc's malloc thresholds."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from nlp_tasks import runtime
from tests import REPO as ROOT

GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"

# In a fresh process: tune (or not), then malloc 16 MiB and report whether glibc served it with
# mmap (mallinfo2().hblkhd counts mmapped bytes). glibc's defaults mmap it; the tuned threshold
# (32 MiB) takes it from the heap, where a freed block stays to be reused.
PROBE = """
import ctypes, json
from nlp_tasks.runtime import tune_allocator
state = tune_allocator()
libc = ctypes.CDLL(None)
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblkhd
block = libc.malloc(16 * 1024 * 1024)
mmapped = libc.mallinfo2().hblkhd - before
libc.free(ctypes.c_void_p(block))
print(json.dumps({"state": state, "mmapped": mmapped}))
"""


def _probe(mode):
    env = dict(os.environ, NLP_TASKS_MALLOC=mode)
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.skipif(not GLIBC, reason="the malloc tuning applies to glibc only")
def test_the_tuned_allocator_serves_large_blocks_from_the_heap():
    tuned = _probe("tuned")
    assert tuned["state"] == {"tuned": True, **runtime.MALLOC_SETTINGS}
    assert tuned["mmapped"] == 0
    system = _probe("system")
    assert system["state"] == {"tuned": False, "reason": "NLP_TASKS_MALLOC=system"}
    assert system["mmapped"] >= 16 * 1024 * 1024  # glibc's default: a fresh mapping, page faults on first touch


def test_no_tuning_outside_glibc(monkeypatch):
    monkeypatch.setattr(runtime, "_allocator", None)
    monkeypatch.delenv("NLP_TASKS_MALLOC", raising=False)
    monkeypatch.setattr(runtime.platform, "libc_ver", lambda: ("", ""))
    assert runtime.tune_allocator() == {"tuned": False, "reason": "not glibc"}
    assert runtime.allocator_summary() == "system defaults (not glibc)"


def test_tuning_happens_once(monkeypatch):
    monkeypatch.setattr(runtime, "_allocator", {"tuned": False, "reason": "test"})
    monkeypatch.delenv("NLP_TASKS_MALLOC", raising=False)
    assert runtime.tune_allocator() == {"tuned": False, "reason": "test"}  # the first result stands


def test_an_unknown_allocator_choice_is_a_one_line_error():
    env = dict(os.environ, NLP_TASKS_MALLOC="sytem")
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "info"], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: NLP_TASKS_MALLOC must be 'tuned' or 'system', got 'sytem'"]


@pytest.mark.parametrize("level", [None, "0"])
def test_no_tensorflow_log_line_reaches_the_terminal(tmp_path, level):
    """Whatever TF_CPP_MIN_LOG_LEVEL the caller has: the oneDNN DT_BOOL line (AVX-512 machines,
    at the first training step), the import's own lines, none of them."""
    data = tmp_path / "train.txt"
    data.write_text("1 good film\n0 bad film\n1 great\n0 awful\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "NLP_TASKS_TF_LOGS")}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "sentiment", "train", "--train", str(data),
                             "--dev", str(data), "--out", str(tmp_path / "m"), "--epochs", "1", "--units", "4",
                             "--embedding-dim", "4", "--json"],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_tensorflow_logs_on_request(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    monkeypatch.setenv("NLP_TASKS_TF_LOGS", "1")
    runtime.quiet_native_logs()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"  # left as the user set it
    monkeypatch.delenv("NLP_TASKS_TF_LOGS")
    runtime.quiet_native_logs()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_importing_the_library_changes_nothing_process_wide():
    """The programs configure the process (nlp_tasks.runtime.configure_process); a program that
    imports nlp_tasks keeps its own TF_CPP_MIN_LOG_LEVEL and its allocator until it asks."""
    probe = ("import os, json; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '1'\n"
             "import nlp_tasks.pipeline, tasks.sentiment\n"
             "from nlp_tasks import runtime\n"
             "tasks.sentiment.SentimentPipeline()  # imports TensorFlow\n"
             "print(json.dumps([os.environ['TF_CPP_MIN_LOG_LEVEL'], runtime._allocator]))\n"
             "runtime.configure_process()\n"
             "print(json.dumps([os.environ['TF_CPP_MIN_LOG_LEVEL'], runtime._allocator is not None]))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("NLP_TASKS_TF_LOGS", "NLP_TASKS_MALLOC")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [["1", None], ["3", True]]
