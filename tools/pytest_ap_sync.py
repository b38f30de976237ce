"""pytest plugin for the account_ap_sync suite (loaded by tools/test.sh with ``-p pytest_ap_sync``).

tools/test.sh passes ``--odoo-extra=test-enable`` so that pytest-odoo's import of ``odoo.tests``
happens in test mode (outside it, Odoo logs an error). But a registry loaded in test mode runs
every installed module's tests at load time, so the registry is loaded here with test mode off,
before any test module is imported, and test mode is switched back on.
"""

import pytest


def pytest_sessionstart(session):
    from odoo.modules.registry import Registry
    from odoo.tools import config

    if config["db_name"]:
        config["test_enable"] = False
        try:
            Registry(config["db_name"].split(",")[0])
        finally:
            config["test_enable"] = True


# The browser tests must run: Odoo skips a tour when Chromium or websocket-client is missing, and a
# skipped tour would let `make test` pass without the UI being tested. Here such a skip is a failure.
BROWSER_TESTS = "test_ui_tours.py"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if BROWSER_TESTS in item.nodeid and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} was skipped ({reason}): the browser tests must run. They need Chromium and "
            "websocket-client, which `make setup` installs."
        )


def pytest_terminal_summary(terminalreporter):
    import os
    from pathlib import Path

    folder = os.environ.get("AP_SYNC_SCREENSHOTS")
    if folder and Path(folder).is_dir():
        shots = sorted(Path(folder).glob("*.png"))
        if shots:
            terminalreporter.write_sep("-", "AP Sync screenshots")
            terminalreporter.write_line(f"saved in {folder}: " + ", ".join(shot.name for shot in shots))
