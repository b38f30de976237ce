# Development tooling for account_ap_sync (never imported by the module).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
CONF := $(ROOT)/odoo.conf
# Odoo's launcher, written by tools/setup.sh (never python -m odoo: see tools/odoo_server.py).
ODOO := $(VENV)/bin/odoo -c $(CONF)
TEST_DB ?= ap_sync_test
DEMO_DB ?= ap_sync_demo
ADDON := $(ROOT)/.addons/account_ap_sync
PYTEST_ARGS ?=

.PHONY: help setup test test-odoo lint format run demo bench clean pot

help:
	@echo "make demo    - a month of AP traffic from the reference platform, then Odoo left running"
	@echo "make test    - fresh database, install the module, run the whole suite"
	@echo "make run     - Odoo on 127.0.0.1 (odoo.conf's http_port) with database $(DEMO_DB) (admin/admin)"
	@echo "make test-odoo - the suite under Odoo's own runner (odoo -i ... --test-enable), as OCA's CI runs it"
	@echo "make lint    - ruff, pylint-odoo (OCA's mandatory checks), OCA's module and .po checks"
	@echo "make pot     - regenerate i18n/account_ap_sync.pot (translation template)"
	@echo "make setup   - venv, Odoo launcher, Python deps, PostgreSQL, odoo.conf (idempotent)"
	@echo "Every target but setup runs the setup step first (about 2 s when nothing changed)."

setup:
	@bash $(ROOT)/tools/setup.sh

test: setup
	@bash $(ROOT)/tools/test.sh $(PYTEST_ARGS)

pot: setup
	@bash $(ROOT)/tools/pot.sh

lint: setup
	@bash $(ROOT)/tools/lint.sh

# The suite as OCA's CI runs it: Odoo's own test runner on a fresh database (0 failed, 0 errors).
test-odoo: setup
	@bash $(ROOT)/tools/test_odoo.sh

format: setup
	$(VENV)/bin/ruff format $(ROOT)
	$(VENV)/bin/ruff check --fix $(ROOT)

run: setup
	@bash $(ROOT)/tools/run.sh $(DEMO_DB)

demo: setup
	@$(PY) $(ROOT)/tools/demo.py --database $(DEMO_DB) $(DEMO_ARGS)

clean:
	rm -rf $(ROOT)/.pytest_cache $(ROOT)/.ruff_cache
