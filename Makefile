# spikefab — two commands on a fresh machine:
#   make demo   generate a default core, run it on Verilator beside the golden model, plot
#   make test   the whole test suite (golden model, generator, cocotb on Verilator and Icarus)
# Each sets up what it needs: a virtual environment in .venv and the Debian packages.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEBS   := iverilog ngspice
JOBS   ?= 2

.PHONY: setup debs demo test test-slow bench bench-quick clean

setup: $(STAMP) debs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[sim,synth,test,sweep]"
	touch $(STAMP)

debs:
	@missing=""; for p in $(DEBS); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) || exit 1; \
	  else \
	    echo "error: missing Debian packages:$$missing; run as root: apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

demo: setup
	$(VENV)/bin/spikefab demo -o demo_out

test: setup
	$(PY) -m pytest -n $(JOBS) -q -m "not slow" --durations=30 tests

test-slow: setup
	$(PY) -m pytest -q -m slow tests

# every benchmark in benchmarks/, each rewriting its results in benchmarks/results/
bench: setup
	$(PY) benchmarks/run_all.py

# the same without the synthesis sweeps and the Brian2 comparison
bench-quick: setup
	$(PY) benchmarks/run_all.py --quick

clean:
	rm -rf build demo_out examples_out sweep_out .pytest_cache
