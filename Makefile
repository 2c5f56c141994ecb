# make demo: set up and run the main job.  make test: set up and run every check.  make lab: the lessons in JupyterLab.
# Set-up is idempotent: .venv and the installs are redone only when pyproject.toml changes.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LAB_STAMP := $(VENV)/.notebooks-installed
# torch is an optional extra; the tests use it as an oracle when it can be installed
TORCH  := torch==2.13.0

.PHONY: demo test lint typecheck pytest notebooks lab bench dot chromium clean

demo: $(STAMP) dot
	$(PY) -m microgrid train --dataset moons --out demo-output

test: $(STAMP) dot chromium lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check microgrid tests benchmarks
	$(VENV)/bin/ruff format --check microgrid tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) dot chromium
	MPLBACKEND=Agg $(PY) -m pytest

# re-execute every lesson in place with the full settings (or: make notebooks LESSONS=05_digits)
notebooks: $(STAMP) dot
	MPLBACKEND=Agg $(PY) tests/test_notebooks.py $(LESSONS)

# JupyterLab on the lessons, from this checkout (not part of make test). Options go to jupyter lab:
# make lab LAB_ARGS="--no-browser --port=8890"
lab: $(LAB_STAMP) dot
	@echo "JupyterLab on notebooks/: open the http://localhost:... URL it prints below; Ctrl-C stops it"
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

$(LAB_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[notebooks]'
	touch $(LAB_STAMP)

# every table of benchmarks/README.md: the engine and the training step (a few minutes), then
# the compiled tape (about 10 minutes)
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/run.py --all
	$(PY) benchmarks/tape.py

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	-$(PY) -m pip install --quiet '$(TORCH)' || echo "note: $(TORCH) not installable here; torch oracle tests will skip"
	touch $(STAMP)

# Graphviz's dot renders the drawings; the tests render with the real binary.
dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Graphviz (dot) with apt"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "Graphviz's 'dot' is missing. Install it, then run make again:"; \
	    echo "  Debian/Ubuntu: sudo apt-get install graphviz"; \
	    echo "  macOS:         brew install graphviz"; \
	    echo "  conda:         conda install -c conda-forge graphviz"; \
	    exit 1; \
	  fi; }

# Debian's Chromium and its driver run the explorer's browser tests (never a downloaded browser build).
chromium:
	@{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium and chromedriver with apt"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "Chromium is missing; the explorer's browser tests need it. Install it, then run make again:"; \
	    echo "  Debian/Ubuntu: sudo apt-get install chromium chromium-driver"; \
	    exit 1; \
	  fi; }

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
