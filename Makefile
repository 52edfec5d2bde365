# pipetune's entry points. Every target creates .venv when it is missing and installs the
# project into it (editable) with the extras the target needs; an install is remembered by a
# stamp file named after the extras and a hash of pyproject.toml, so it reruns only when
# pyproject.toml changes (or after `make distclean`).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
BENCH_ARGS ?=

# The dashboard's browser tests (tests/server/test_dashboard_browser.py) drive Debian's
# Chromium through Playwright, so `make test` installs Chromium first (the `browser` target);
# `make test NEEDS_BROWSER=0` skips that (the browser tests then skip, or fail under CI=true).
NEEDS_BROWSER ?= 1
CHROMIUM := /usr/bin/chromium
# The Spark tests (backend="spark", SparkTrials) start a local Spark, which needs a Java
# runtime: `make test` installs Debian's headless JRE when there is no `java` (the `java` target).

PYPROJECT_HASH := $(shell sha256sum pyproject.toml | cut -c1-12)
STAMP = $(VENV)/.installed-$(1)-$(PYPROJECT_HASH)

.PHONY: demo test bench browser java clean distclean

demo: $(call STAMP,examples)
	$(PY) examples/dc_taxi/demo.py

# Lint and type checks come first: a lint or type error fails the run before the tests start.
test: $(call STAMP,test) $(if $(filter 1,$(NEEDS_BROWSER)),browser) java
	$(PY) -m ruff check pipetune tests benchmarks examples docs/images deploy
	$(PY) -m mypy pipetune
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(call STAMP,bench)
	$(PY) benchmarks/overhead.py $(BENCH_ARGS)

$(PY):
	$(PYTHON) -m venv $(VENV)

# One stamp per set of extras; the stem names the set.
EXTRAS_examples := examples
EXTRAS_test := test,postgres,pandas,server,ray
EXTRAS_bench := bench

$(VENV)/.installed-%-$(PYPROJECT_HASH): | $(PY)
	$(PY) -m pip install -q -e '.[$(EXTRAS_$*)]'
	rm -f $(VENV)/.installed-$*-*
	touch $@

# Installs Chromium only when it is absent; a machine without apt gets a warning, not a failure.
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "warning: $(CHROMIUM) is missing and apt-get is unavailable; browser tests will not run" >&2; \
	else \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$sudo apt-get install -y chromium || { $$sudo apt-get update && $$sudo apt-get install -y chromium; }; \
	fi

# Installs a Java runtime only when none is found; a machine without apt gets a warning.
java:
	@if command -v java >/dev/null 2>&1 || [ -n "$$JAVA_HOME" ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "warning: java is missing and apt-get is unavailable; Spark tests will not run" >&2; \
	else \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$sudo apt-get install -y default-jre-headless || { $$sudo apt-get update && $$sudo apt-get install -y default-jre-headless; }; \
	fi

# Build and test leftovers. Keeps .venv and your results (pipetune.db, pipetune-artifacts/,
# pipetune-cache/, pipetune-data/).
clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
