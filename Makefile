# The two commands of the README: `make demo` and `make test`. Each sets itself up:
# a local virtualenv in .venv with the project and its extras, and Graphviz's `dot`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-quick gpu-check lab setup dot clean

demo: setup dot
	$(PY) -m models.demo

test: setup dot
	$(PY) -m ruff check .
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadgroup

# the implementations take turns in one process (see README, Speed)
BENCH_FLAGS := --paired

bench-quick: setup
	mkdir -p runs && $(PY) bench/lm.py --quick $(BENCH_FLAGS) --out runs/bench-quick.jsonl

bench: setup
	$(PY) bench/lm.py $(BENCH_FLAGS) --iters 1 --repeats 30

# on a lent GPU machine: its own python3, no venv, nothing installed (see README, GPU)
gpu-check:
	PYTHON=$(PYTHON) bash bench/gpu_check.sh runs/gpu-check

lab: setup dot
	$(PY) -m pip install -q -e '.[viz,test,notebook]'
	$(VENV)/bin/jupyter lab tutorials/

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 needed"' \
	  || { echo "minigrad needs Python >= 3.10 as '$(PYTHON)' (run: make PYTHON=python3.11 ...)"; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv; \
	  else echo "Python's venv module is missing. Run: sudo apt-get install -y python3-venv"; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[viz,test]'
	@touch $@

dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then echo "Installing Graphviz (dot) with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz; \
	  else echo "Graphviz's 'dot' program is missing. Run: sudo apt-get install -y graphviz"; exit 1; fi; }

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
