# fpstudy: `make all` sets up .venv, runs every experiment whose config or code changed, and
# writes the report; `make test` sets up the same environment and runs the tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FPSTUDY := $(VENV)/bin/fpstudy
READY  := $(VENV)/.installed
RESULTS ?= results
# TRUTH=arb proves every experiment's truth with that engine (fpstudy run --truth-engine);
# empty: each config's [truth] engine (mpmath by default). The choice is kept in TRUTH_STAMP,
# rewritten when it changes, so switching engines reruns every experiment.
TRUTH  ?=
TRUTH_STAMP := $(RESULTS)/.truth-engine
ifneq ($(strip $(TRUTH)),$(strip $(shell cat $(TRUTH_STAMP) 2>/dev/null)))
  $(shell mkdir -p $(RESULTS) && printf '%s\n' '$(strip $(TRUTH))' > $(TRUTH_STAMP))
endif

EXPERIMENTS := $(wildcard experiments/*.toml)
# The experiments dearest first (their run and report section as measured, 2026-11-29), so
# that under make -j the long ones do not start last and leave a core idle at the end; any
# other (a new config) after them, in name order.
DEAREST     := softmax_random deep_product_random sigmoid_saturation softmax_mixed_precision \
               softmax_constant softmax_trained training mlp_trained rounding_training \
               gradients activations rounding_softmax_fp8 rounding_bfloat16_sum deep_product \
               rounding_deep_product
ALL_NAMES   := $(basename $(notdir $(EXPERIMENTS)))
NAMES       := $(foreach n,$(DEAREST),$(filter $(n),$(ALL_NAMES))) \
               $(filter-out $(DEAREST),$(ALL_NAMES))
RUNS        := $(NAMES:%=$(RESULTS)/%/meta.json)
# What the numbers depend on: the package (the report aside, in fpstudy/report/) except the
# modules that cannot change a number: the command line, the error messages, the package's
# front door. Editing those reruns nothing; a new module counts as numerics until listed here.
NOT_NUMERICS := fpstudy/cli.py fpstudy/errors.py fpstudy/__init__.py fpstudy/__main__.py
NUMERICS    := $(filter-out $(NOT_NUMERICS), \
                 $(wildcard fpstudy/*.py fpstudy/cases/*.py)) pyproject.toml
# What the report and its figures depend on, beside the results: the report package.
REPORT_CODE := $(wildcard fpstudy/report/*.py fpstudy/report/cases/*.py)

.PHONY: all test fuzz report bench lint clean distclean setup mutation
.DEFAULT_GOAL := all

all: $(RESULTS)/report.html

setup: $(READY)

$(READY): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,scipy,arb]'
	touch $@

# Data the shipped *_trained experiments read: a small MLP trained with numpy on seeded data
# (no download), generated here and kept out of git.
EXAMPLE_DATA := experiments/data/mlp_model.npz experiments/data/mlp_data.npz
$(EXAMPLE_DATA) &: examples/train_mlp.py | $(READY)
	$(PY) examples/train_mlp.py --out experiments/data

# One experiment: its results are rebuilt when its config, the numerics or a file its [data]
# table names change. The files are read from the config by fpstudy/dataspec.py (standard
# library only, so it runs before .venv exists); a file make can generate is made first, and a
# missing file that it cannot is left for `fpstudy run` to report.
data_files = $(foreach f,$(shell $(PYTHON) -m fpstudy.dataspec $(1)),\
               $(if $(filter $(f),$(EXAMPLE_DATA)),$(f),$(wildcard $(f))))
.SECONDEXPANSION:
# The run draws its report section too (--draw: in the same process, which has imported the
# numerics and holds the results already), so the section is newer than meta.json and the rule
# below has nothing to do unless the report code changed.
$(RESULTS)/%/meta.json: experiments/%.toml $(NUMERICS) $$(call data_files,experiments/$$*.toml) \
                        $(wildcard $(TRUTH_STAMP)) | $(READY)
	$(FPSTUDY) run $< --results $(RESULTS) --draw $(if $(TRUTH),--truth-engine $(TRUTH))

# One experiment's part of the report (its figures and tables), drawn as soon as its results
# are there (by the run itself, above, or here when only the report code changed), so under
# make -j it is drawn while other experiments still run; kept in report_section.json
# (rewritten, or touched when still valid) for the report to reuse.
SECTIONS    := $(NAMES:%=$(RESULTS)/%/report_section.json)
$(RESULTS)/%/report_section.json: $(RESULTS)/%/meta.json $(REPORT_CODE) | $(READY)
	$(FPSTUDY) report --results $(RESULTS) --only $*

# The report: every section (reusing the kept ones, drawing any missing), then report.md,
# then report.html (last, so its time stamp covers the rest). The runs are named here too:
# reached only through the section rule, make would take each meta.json for an intermediate
# file and delete it once the report is made.
$(RESULTS)/report.html: $(RUNS) $(SECTIONS) | $(READY)
	$(FPSTUDY) report --results $(RESULTS)

# Redraw the report from the results there are, running nothing (kept sections still valid
# are reused: the pages are the same as drawn afresh).
report: | $(READY)
	$(FPSTUDY) report --results $(RESULTS)

test: $(READY) $(EXAMPLE_DATA)
	$(PY) -m pytest

# A long fuzzing campaign of the config reader (`make test` runs a few examples of it).
FUZZ_EXAMPLES ?= 2000
fuzz: $(READY)
	FPSTUDY_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -m 'slow or not slow' tests/test_fuzz_config.py

# Mutation testing (mutmut, in the `mutation` extra, installed here on first use: `make test`
# and `make setup` never install or run it) of the numerics core and config, one module at a
# time in a scratch copy under .mutation/, with the tests that import that module. Pick modules
# with MODULES="thresholds formats"; see docs/mutation.md for the scores.
MODULES ?=
MUTATION_READY := $(VENV)/.mutation-installed
$(MUTATION_READY): pyproject.toml | $(READY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,scipy,arb,mutation]'
	touch $@

mutation: $(MUTATION_READY)
	$(PY) tools/mutation.py $(MODULES)

bench: $(READY)
	$(PY) benchmarks/run.py

lint: $(READY)
	$(VENV)/bin/ruff check fpstudy tests benchmarks examples tools

# Remove generated output: the example data, every experiment's results, the figures and the
# report (the results directory itself and its tracked README stay).
clean:
	rm -f $(EXAMPLE_DATA)
	if [ -d $(RESULTS) ]; then \
	  find $(RESULTS) -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitignore \
	    -exec rm -rf {} +; \
	fi

distclean: clean
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .hypothesis .mutation
