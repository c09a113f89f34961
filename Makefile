# fpstudy: `make all` sets up .venv, runs every experiment whose config or code changed, and
# writes the report; `make test` sets up the same environment and runs the tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FPSTUDY := $(VENV)/bin/fpstudy
READY  := $(VENV)/.installed
RESULTS ?= results

EXPERIMENTS := $(wildcard experiments/*.toml)
NAMES       := $(basename $(notdir $(EXPERIMENTS)))
RUNS        := $(NAMES:%=$(RESULTS)/%/meta.json)
# What the numbers depend on: the package (the report aside, in fpstudy/report/) except the
# modules that cannot change a number: the command line, the error messages, the package's
# front door. Editing those reruns nothing; a new module counts as numerics until listed here.
NOT_NUMERICS := fpstudy/cli.py fpstudy/errors.py fpstudy/__init__.py fpstudy/__main__.py
NUMERICS    := $(filter-out $(NOT_NUMERICS), \
                 $(wildcard fpstudy/*.py fpstudy/cases/*.py)) pyproject.toml
# What the report and its figures depend on, beside the results: the report package.
REPORT_CODE := $(wildcard fpstudy/report/*.py fpstudy/report/cases/*.py)

.PHONY: all test fuzz report bench lint clean distclean setup
.DEFAULT_GOAL := all

all: $(RESULTS)/report.html

setup: $(READY)

$(READY): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,scipy]'
	touch $@

# One experiment: its results are rebuilt when its config or the numerics change.
$(RESULTS)/%/meta.json: experiments/%.toml $(NUMERICS) | $(READY)
	$(FPSTUDY) run $< --results $(RESULTS)

# The report is redrawn when any experiment was rerun or the report code changed; it writes
# every figure, then report.md, then report.html (last, so its time stamp covers the rest).
$(RESULTS)/report.html: $(RUNS) $(REPORT_CODE) | $(READY)
	$(FPSTUDY) report --results $(RESULTS)

# Redraw the report from the results there are, running nothing.
report: | $(READY)
	$(FPSTUDY) report --results $(RESULTS)

test: $(READY)
	$(PY) -m pytest

# A long fuzzing campaign of the config reader (`make test` runs a few examples of it).
FUZZ_EXAMPLES ?= 2000
fuzz: $(READY)
	FPSTUDY_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -m 'slow or not slow' tests/test_fuzz_config.py

bench: $(READY)
	$(PY) benchmarks/run.py

lint: $(READY)
	$(VENV)/bin/ruff check fpstudy tests benchmarks

# Remove generated output: every experiment's results, the figures and the report (the
# results directory itself and its tracked README stay).
clean:
	if [ -d $(RESULTS) ]; then \
	  find $(RESULTS) -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitignore \
	    -exec rm -rf {} +; \
	fi

distclean: clean
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .hypothesis
