"""Shared fixtures for account_ap_sync tests: companies, users, platforms and the reference server."""

import logging
import sys
from pathlib import Path
from unittest.mock import patch

from cryptography.fernet import Fernet

from odoo.tests import new_test_user
from odoo.tests.common import TransactionCase
from odoo.tools import config

from ..utils import crypto

TOOLS_DIR = Path(__file__).resolve().parents[1] / "tools"
if str(TOOLS_DIR) not in sys.path:
    sys.path.insert(0, str(TOOLS_DIR))

from ap_platform_server import ApPlatformServer, make_invoice, make_vendor, sign_headers  # noqa: E402

__all__ = ["ApPlatformServer", "ApSyncCase", "CapturedLogs", "make_invoice", "make_vendor", "sign_headers"]

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
API_KEY = "test-api-key-7f3c9a1d2e"
# The cases store secrets, which needs an encryption key. Odoo's runner started with a configuration
# that has none (as OCA's CI starts it) gets this one, for the test classes only.
TEST_ENCRYPTION_KEY = Fernet.generate_key().decode()


class CapturedLogs(logging.Handler):
    """Collects every record logged anywhere (root logger, DEBUG) while active."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        try:
            self.lines.append(self.format(record))
        except Exception:  # pragma: no cover - a broken record is still a record
            self.lines.append(str(record.msg))

    LOGGERS = ("", "odoo", "odoo.addons", "urllib3", "requests")

    def __enter__(self):
        self.old_levels = {name: logging.getLogger(name).level for name in self.LOGGERS}
        for name in self.LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self)
        for name, level in self.old_levels.items():
            logging.getLogger(name).setLevel(level)

    @property
    def text(self):
        return "\n".join(self.lines)


def make_secret_unreadable(platform, kind="api_key"):
    """Store ``platform``'s secret as a token of another Fernet key, as after a key changed without
    re-encrypting: this database can no longer decrypt it."""
    env = platform.env
    secret = env["ap.platform.secret"].sudo().search([("platform_id", "=", platform.id), ("kind", "=", kind)])
    secret.token = Fernet(Fernet.generate_key()).encrypt(b"the old secret").decode()
    env.cr.cache.pop("account_ap_sync.api_keys", None)
    return secret


class ApSyncCase(TransactionCase):
    """Two companies, a manager, an AP user per company, an outsider, and a platform per company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not crypto.has_key():
            cls.startClassPatcher(patch.dict(config.options, {crypto.CONFIG_OPTION: TEST_ENCRYPTION_KEY}))
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=False))
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "AP Sync Test Company B"})
        companies = (cls.company_a | cls.company_b).ids
        cls.manager = new_test_user(
            cls.env,
            login="ap_manager",
            groups="base.group_user,account_ap_sync.group_ap_sync_manager",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, companies)],
        )
        cls.ap_user_a = new_test_user(
            cls.env,
            login="ap_user_a",
            groups="base.group_user,account_ap_sync.group_ap_sync_user",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, cls.company_a.ids)],
        )
        cls.outsider = new_test_user(cls.env, login="ap_outsider", groups="base.group_user")
        cls.platform = cls.env["ap.platform"].create(
            {
                "name": "Test Platform A",
                "code": "test_a",
                "company_id": cls.company_a.id,
                "webhook_secret": WEBHOOK_SECRET,
                "api_key": API_KEY,
            }
        )
        cls.platform_b = cls.env["ap.platform"].create(
            {"name": "Test Platform B", "code": "test_b", "company_id": cls.company_b.id}
        )


class ReferencePlatformMixin:
    """Put before a case class: the class gets the reference platform (``cls.server``, Bearer API_KEY),
    the test platform points at it with ``platform_values`` written too, and each test starts with the
    platform's state cleared."""

    platform_values = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = ApPlatformServer(api_key=API_KEY).start()
        cls.addClassCleanup(cls.server.stop)
        cls.platform.write({"base_url": cls.server.url, **cls.platform_values})

    def setUp(self):
        super().setUp()
        self.server.clear()
