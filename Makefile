# Two commands do everything on a fresh clone:
#   make demo   create .venv, install, run the main job end to end -> demo-output/
#   make test   create/update .venv with the test extras and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test bench bench-cells bench-speed bench-ner bench-sentiment bench-charlm bench-music bench-export bench-serve clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The stamp files make `make` re-install only when the package metadata changes.
$(VENV)/.installed: $(VENV)/bin/python setup.cfg pyproject.toml
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed setup.cfg
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed setup.cfg
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m nlp_tasks.demo --out demo-output

test: $(VENV)/.installed-test
	$(PY) -m pytest -q

# Benchmarks write benchmarks/RESULTS.md and benchmarks/results/*.json (minutes to an hour each).
bench: bench-cells bench-speed bench-ner bench-sentiment bench-charlm bench-music bench-export bench-serve

bench-cells: $(VENV)/.installed-bench
	$(PY) benchmarks/cells.py

bench-speed: $(VENV)/.installed-bench
	$(PY) benchmarks/speed.py

bench-ner: $(VENV)/.installed-bench
	$(PY) benchmarks/ner.py

bench-sentiment: $(VENV)/.installed-bench
	$(PY) benchmarks/sentiment.py

bench-charlm: $(VENV)/.installed-bench
	$(PY) benchmarks/charlm.py

bench-music: $(VENV)/.installed-bench
	$(PY) benchmarks/music.py
	$(PY) benchmarks/music.py --head nade

bench-export: $(VENV)/.installed-bench
	$(PY) benchmarks/export.py

bench-serve: $(VENV)/.installed-bench
	$(PY) benchmarks/serve.py

clean:
	rm -rf $(VENV) demo-output *.egg-info .pytest_cache .hypothesis
