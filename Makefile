SHELL := /bin/bash
# Two commands from a fresh clone (each creates .venv first when needed):
#   make demo   set up and run the main job
#   make test   set up and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Real recordings beside the checkout (see tests/conftest.py); override with DATA=...
DATA ?= ../shared/data
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench results mutation clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch is pinned through the constraints file: an unpinned torch pulls GBs of CUDA wheels.
	# --no-compile: byte-compiling every installed module (torch's thousands) costs about a minute;
	# Python compiles the ones a run imports, on first import.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -c constraints.txt -e ".[test]" 2> >(grep -v "is ignored: it is neither" >&2)
	touch $(STAMP)

setup: $(STAMP)

# The main job: build the EEGMMIDB subject-1 store with the NeurIPT profile, print its stats and
# write its QC report (out/stores/eegmmidb-report.html).
# Uses ../shared/data/eegmmidb when present, otherwise downloads subject 1 from PhysioNet.
demo: $(STAMP)
	@raw="$(DATA)/eegmmidb"; \
	if [ ! -d "$$raw/S001" ]; then \
		raw=out/raw/eegmmidb; \
		$(BIN)/eegcorpus fetch eegmmidb --subjects 1 --out "$$raw" || exit 1; \
	fi; \
	$(BIN)/eegcorpus build eegmmidb --raw "$$raw" --subjects 1 --out out/stores/eegmmidb --profile neuript \
		&& $(BIN)/eegcorpus stats out/stores/eegmmidb --plots out/stores/eegmmidb-plots \
		&& $(BIN)/eegcorpus report out/stores/eegmmidb --out out/stores/eegmmidb-report.html

# The suite, then lint and the format check. pytest exits 5 when it collects no test; that is
# not a failure of the suite.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; \
	[ $$rc -eq 0 ] || exit $$rc
	$(MAKE) --no-print-directory lint

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/read_edf.py
	$(BIN)/python bench/build.py
	$(BIN)/python bench/build.py --curve
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[bench]" 2> >(grep -v "is ignored: it is neither" >&2)
	$(BIN)/python bench/loader.py
	$(BIN)/python bench/model.py

# docs/results.md's MentalArithmetic tables: stores, pretraining, four fine-tuning runs (1 h 36-43 min on 2 cores).
results: $(STAMP)
	$(BIN)/python scripts/mental_arithmetic_results.py --data $(DATA)

# Mutation testing of one module against its tests (docs/testing.md), e.g.
#   make mutation MODULE=neuript/masking.py TESTS=tests/test_masking.py
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[mutation]" 2> >(grep -v "is ignored: it is neither" >&2)
	$(BIN)/python scripts/mutation.py $(MODULE) $(TESTS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
