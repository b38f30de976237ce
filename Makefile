# Development tooling for account_ap_sync (never imported by the module).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
CONF := $(ROOT)/odoo.conf
ODOO := $(PY) -m odoo -c $(CONF)
TEST_DB ?= ap_sync_test
DEMO_DB ?= ap_sync_demo
ADDON := $(ROOT)/.addons/account_ap_sync
PYTEST_ARGS ?=

.PHONY: help setup test lint format run demo bench clean check-setup pot

help:
	@echo "make setup   - venv, Odoo, Python deps, PostgreSQL, odoo.conf (idempotent)"
	@echo "make test    - fresh database, install the module, run the whole suite"
	@echo "make lint    - ruff check and ruff format --check"
	@echo "make run     - Odoo on 127.0.0.1:8069 with database $(DEMO_DB) (admin/admin)"
	@echo "make demo    - a month of AP traffic from the reference platform, then Odoo left running"
	@echo "make pot     - regenerate i18n/account_ap_sync.pot (translation template)"

setup:
	@bash $(ROOT)/tools/setup.sh

check-setup:
	@test -x $(PY) -a -f $(CONF) || { echo "Not set up: run 'make setup' first." >&2; exit 1; }

test: check-setup
	@bash $(ROOT)/tools/test.sh $(PYTEST_ARGS)

pot: check-setup
	@bash $(ROOT)/tools/pot.sh

lint: check-setup
	$(VENV)/bin/ruff check $(ROOT)
	$(VENV)/bin/ruff format --check $(ROOT)

format: check-setup
	$(VENV)/bin/ruff format $(ROOT)
	$(VENV)/bin/ruff check --fix $(ROOT)

run: check-setup
	@bash $(ROOT)/tools/run.sh $(DEMO_DB)

demo: check-setup
	@$(PY) $(ROOT)/tools/demo.py --database $(DEMO_DB) $(DEMO_ARGS)

clean:
	rm -rf $(ROOT)/.pytest_cache $(ROOT)/.ruff_cache
