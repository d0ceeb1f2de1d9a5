# SysMedic developer commands. `make help` lists them.
# Everything a target needs is installed by the target itself (a virtualenv from PyPI, npm
# packages, Debian packages), so a fresh clone needs only `make run` and `make test`.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# `make run PORT=9090 SYSMEDIC_HOME=/tmp/sm` overrides the port of websocket.json (8060 unless
# set; the override is not saved) and the home directory.
PORT   ?=
SYSMEDIC_HOME ?= $(HOME)/.sysmedic
# Every pyenv Python 3.8+ installed here runs the fast suite (the full one runs on $(PYTHON)).
MATRIX_PYTHONS := $(sort $(wildcard $(HOME)/.pyenv/versions/3.*/bin/python3))
PIP_QUIET := --quiet --disable-pip-version-check

NODE_STAMP := tests/node/node_modules/.installed

.PHONY: help venv node-deps system-deps run test test-fast test-busy test-matrix test-sid zipapp deb bench bench-deps clean

help:            ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t18

$(STAMP): setup.py requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) --upgrade pip
	$(PY) -m pip install $(PIP_QUIET) -e . -r requirements-test.txt
	touch $@

venv: $(STAMP)   ## Create .venv with SysMedic (editable) and the test packages

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-deps: $(NODE_STAMP)  ## Install the Node.js packages the tests use (ws, wscat)

run: venv        ## Run the daemon in the foreground (websocket.json port, 8060; ~/.sysmedic; PORT=, SYSMEDIC_HOME= override)
	SYSMEDIC_HOME="$(SYSMEDIC_HOME)" $(PY) -m sysmedic daemon run --show-url $(if $(PORT),--port=$(PORT))

system-deps:     ## Install the Debian packages the tests use (openrc, chromium) when root
	@sh tests/install-system-deps.sh

# As root, make test has installed every tool the suite uses: a skip that tests/allowed-skips.txt
# does not explain then fails the run (a test that silently did not run).
STRICT_SKIPS := $(shell [ "$$(id -u)" = 0 ] && echo 1)

test: venv node-deps system-deps test-matrix test-sid  ## The whole suite: full on $(PYTHON), fast suite on every pyenv Python 3.8+ and (root) sid's 3.14, 3.15
	SYSMEDIC_STRICT_SKIPS=$(STRICT_SKIPS) $(PY) -m pytest

test-fast: venv  ## The suite without slow end-to-end groups
	$(PY) -m pytest -m "not slow"

test-busy:       ## `make test` beside two CPU burners and a fork loop as another user (root)
	@MAKE="$(MAKE)" sh tests/busy.sh

test-matrix:     ## The fast suite on every other installed pyenv Python 3.8+
	@SYSMEDIC_STRICT_SKIPS=$(STRICT_SKIPS) PYTHON_LIST="$(MATRIX_PYTHONS)" sh tests/run-matrix.sh

test-sid: venv   ## As root: the fast suite on Debian sid's python3.14 and python3.15 (a minbase root, built once)
	@SYSMEDIC_STRICT_SKIPS=$(STRICT_SKIPS) sh tests/run-sid.sh

zipapp: venv     ## Build dist/sysmedic.pyz (one file, Python 3.8-3.15, reproducible)
	$(PY) packaging/build_zipapp.py dist/sysmedic.pyz

deb: zipapp      ## Build dist/sysmedic_<version>_all.deb (zipapp, systemd unit, init scripts)
	$(PY) packaging/build_deb.py dist/sysmedic.pyz dist

bench: venv      ## Every table of BENCHMARKS.md (about 40 minutes; Glances gets its own venv)
	$(PY) bench/collector_cost.py
	$(PY) bench/fork_coverage.py
	$(PY) bench/zipapp_startup.py
	$(PY) bench/fanout.py
	$(PY) bench/daemon_overhead.py
	test -x .venvs/bench/bin/glances || { $(PYTHON) -m venv .venvs/bench && .venvs/bench/bin/pip install $(PIP_QUIET) glances; }
	$(PY) bench/glances_compare.py .venvs/bench/bin/glances
	$(PY) bench/tls.py
	$(PY) bench/history.py
	$(PY) bench/dashboard.py
	$(MAKE) bench-deps
	$(PY) bench/exporters.py

bench-deps:      ## As root: Debian's node_exporter and process-exporter for bench/exporters.py
	@command -v prometheus-process-exporter >/dev/null 2>&1 && command -v prometheus-node-exporter >/dev/null 2>&1 \
	  || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	       prometheus-node-exporter prometheus-process-exporter >/dev/null; } \
	  || echo "note: bench/exporters.py needs prometheus-node-exporter and prometheus-process-exporter (as root)"

clean:           ## Remove virtualenvs and build output
	rm -rf $(VENV) .venvs build dist *.egg-info .pytest_cache tests/node/node_modules
