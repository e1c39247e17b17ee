# The two commands (see README.md):
#   make run    set everything up, then run the main example
#   make test   set everything up, then run the tests
# Both are idempotent: a second run only redoes what changed.

PYTHON ?= python3
export PIP_BREAK_SYSTEM_PACKAGES := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_ROOT_USER_ACTION := ignore

STAMP := build/.stamps
SOURCES := $(wildcard ivmhost/*.pyx ivmhost/_pyx/*.pxi ivmhost/_native/*.cc ivmhost/_native/*.h) setup.py

.PHONY: run test setup v8 deps build bench clean fixtures

run: setup
	$(PYTHON) examples/notes_app.py

test: setup fixtures
	$(PYTHON) -m pytest tests

setup: v8 deps build $(STAMP)/editable

v8:
	$(PYTHON) vendor/v8/fetch.py

deps: $(STAMP)/deps
$(STAMP)/deps: requirements-dev.txt
	@mkdir -p $(STAMP)
	@$(PYTHON) -m pip --version >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q python3-pip python3-dev; }
	@$(PYTHON) -c "import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
		|| { apt-get update -q && apt-get install -y -q python3-dev; }
	@# A system Python may hold Debian-packaged versions pip cannot uninstall: install over them then.
	$(PYTHON) -m pip install -q -r requirements-dev.txt || $(PYTHON) -m pip install -q --ignore-installed -r requirements-dev.txt
	@touch $@

build: $(STAMP)/build
$(STAMP)/build: $(SOURCES) vendor/v8/dist/BUILD-INFO.json $(STAMP)/deps
	$(PYTHON) setup.py -q build_ext --inplace
	@touch $@

# `import ivmhost` from anywhere: an editable install pointing at this tree (made once).
$(STAMP)/editable: pyproject.toml $(STAMP)/build
	$(PYTHON) -m pip install -q --no-build-isolation --no-deps -e .
	@touch $@

# Real npm libraries (single-file ES module builds) for tests/engine/test_bundles.py, a DevTools
# protocol client for tests/inspector, and Debian's chromium, whose bundled DevTools frontend
# attaches in tests/inspector/test_devtools_frontend.py.
fixtures: tests/fixtures/npm/node_modules/.package-lock.json $(STAMP)/chromium
$(STAMP)/chromium:
	@mkdir -p $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q --no-install-recommends chromium; }
	@touch $@
tests/fixtures/npm/node_modules/.package-lock.json: tests/fixtures/npm/package-lock.json
	@command -v npm >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q nodejs npm; }
	cd tests/fixtures/npm && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

bench: setup
	$(PYTHON) benchmarks/engine.py

clean:
	rm -rf build ivmhost/_engine.cpp ivmhost/*.so *.egg-info
