"""pytest plugin for the account_ap_sync suite (loaded by tools/test.sh with ``-p pytest_ap_sync``).

tools/test.sh passes ``--odoo-extra=test-enable`` so that pytest-odoo's import of ``odoo.tests``
happens in test mode (outside it, Odoo logs an error). But a registry loaded in test mode runs
every installed module's tests at load time, so the registry is loaded here with test mode off,
before any test module is imported, and test mode is switched back on.
"""


def pytest_sessionstart(session):
    from odoo.modules.registry import Registry
    from odoo.tools import config

    if config["db_name"]:
        config["test_enable"] = False
        try:
            Registry(config["db_name"].split(",")[0])
        finally:
            config["test_enable"] = True
