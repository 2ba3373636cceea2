# Two commands for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test bench serve system-packages clean

setup: system-packages $(VENV)/.installed local/node_modules/.installed

# redis-server for the cache tests, PostgreSQL for the database restore's (the emulator's flexible servers are
# real clusters), Node.js + npm for Azurite; installed only if missing.
system-packages:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

local/node_modules/.installed: local/package.json local/package-lock.json
	cd local && npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/python -m local.cli demo

test: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

serve: setup
	$(BIN)/python -m local.cli serve

bench: setup
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/alert_to_action.py
	$(BIN)/python bench/flush.py
	$(BIN)/python bench/hostile.py

clean:
	rm -rf $(VENV) local/node_modules .pytest_cache
