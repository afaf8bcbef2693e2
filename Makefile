# coachbox: `make run` to start, `make test` to test. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp files make set-up a no-op when pyproject.toml has not changed.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench clean setup browser-deps

$(BIN)/python:
	@echo "Creating $(VENV) for coachbox (first time only)…"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "coachbox needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create $(VENV): on Debian/Ubuntu install python3-venv (apt-get install python3-venv)"; exit 1; }
	@$(BIN)/python -m pip install --quiet --progress-bar off --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing coachbox's Python packages (about 2 minutes the first time; later runs skip this)…"
	@$(BIN)/pip install --quiet --progress-bar off -e . || { echo "pip could not install coachbox: see the lines above (no network? no disk space?)"; exit 1; }
	@touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing coachbox and its test tools (about 3 minutes the first time; later runs skip this)…"
	@$(BIN)/pip install --quiet --progress-bar off -e '.[test]' || { echo "pip could not install coachbox: see the lines above (no network? no disk space?)"; exit 1; }
	@touch $@ $(RUN_STAMP)

setup: $(RUN_STAMP)
	$(BIN)/coachbox init

# `coachbox run` itself creates data/, migrates and imports content (as `init` does) before it starts.
run: $(RUN_STAMP)
	$(BIN)/coachbox run

# Browser tests use Debian's Chromium; install it when we can (root + apt), otherwise those tests skip with a reason.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Chromium for browser tests (apt-get)…"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "Could not install chromium; browser tests will be skipped."; \
	fi
	@if ! command -v pdftotext >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null) || true; \
	fi

# No test may depend on the hour, weekday or date it runs at: after the whole suite (at its fixed instant), the
# time-sensitive tests run again at one instant inside Nairobi's quiet hours and one outside (docs/testing.md).
# Exit code 5 (PYTEST_ARGS selected no time-sensitive test) is not a failure.
TEST_INSTANTS := 2026-03-02T20:30:00+00:00 2026-03-04T07:00:00+00:00
# Each run spreads its tests over one pytest-xdist worker per CPU (most of the suite waits on servers, browsers and
# SQLite). `make test TEST_WORKERS=0` runs everything in one process, one test after another (docs/testing.md).
TEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS)

test: $(TEST_STAMP) browser-deps
	$(PYTEST) $(PYTEST_ARGS)
	@for at in $(TEST_INSTANTS); do \
		echo "Time-sensitive tests at $$at:"; \
		$(PYTEST) -p no:cacheprovider -m time_sensitive --at=$$at $(PYTEST_ARGS) || [ $$? -eq 5 ] || exit 1; \
	done

# Lint and types: ruff (rules and formatting, config in pyproject.toml), mypy (check_untyped_defs, zero errors),
# hadolint for the Dockerfile. All three come with the test extra, so a fresh clone needs nothing else.
lint: $(TEST_STAMP)
	$(BIN)/ruff check coachbox tests bench
	$(BIN)/ruff format --check coachbox tests bench
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

bench: $(TEST_STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
