"""The test suite. Its folders mirror the packages: tests/nlp_tasks/ (the core, by group) and
tests/tasks/ (one folder per task); tests that cut across them (the project's rules, the README,
the demo, the fault suite) and the shared helpers stay here."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # the repository's root
TESTS = REPO / "tests"
