"""The module's cron wake-ups (NOTIFY cron_trigger) go through one connection kept by the process,
not a new connection per request (utils/cron_wakeup.py); Odoo's own way stays the fallback."""

import select
import time
from unittest.mock import patch

import psycopg2

from odoo import sql_db
from odoo.tests import TransactionCase, tagged

from ..utils import cron_wakeup


@tagged("post_install", "-at_install")
class TestCronWakeup(TransactionCase):
    def setUp(self):
        super().setUp()
        _dbname, info = sql_db.connection_info_for("postgres")
        self.listener = psycopg2.connect(**info)
        self.listener.autocommit = True
        self.addCleanup(self.listener.close)
        with self.listener.cursor() as cr:
            cr.execute("LISTEN cron_trigger")

    def received(self, expected, timeout=5.0):
        """Payloads of the cron_trigger notifications received, waiting for ``expected`` of them."""
        payloads, deadline = [], time.monotonic() + timeout
        while len(payloads) < expected and time.monotonic() < deadline:
            select.select([self.listener], [], [], 0.2)
            self.listener.poll()
            while self.listener.notifies:
                payloads.append(self.listener.notifies.pop(0).payload)
        return payloads

    def kept_backend_pid(self):
        return cron_wakeup._state["connection"].get_backend_pid()

    def test_notify_reuses_one_connection(self):
        dbname = self.env.cr.dbname
        self.assertTrue(cron_wakeup.notify(dbname))
        pid = self.kept_backend_pid()
        self.assertTrue(cron_wakeup.notify(dbname))
        self.assertEqual(self.kept_backend_pid(), pid, "the second wake-up used a new connection")
        self.assertEqual(self.received(2), [dbname, dbname])

    def test_lost_connection_falls_back_then_reconnects(self):
        dbname = self.env.cr.dbname
        self.assertTrue(cron_wakeup.notify(dbname))
        pid = self.kept_backend_pid()
        with self.listener.cursor() as cr:
            cr.execute("SELECT pg_terminate_backend(%s)", [pid])
        time.sleep(0.2)
        # The first attempt finds the connection dead: the caller is told to use Odoo's own way.
        self.assertFalse(cron_wakeup.notify(dbname))
        self.assertTrue(cron_wakeup.notify(dbname))
        self.assertNotEqual(self.kept_backend_pid(), pid)
        self.assertEqual(self.received(2), [dbname, dbname])

    def test_notifydb_routes_only_the_module_triggers(self):
        cron = self.env.ref("account_ap_sync.ir_cron_ap_sync_process")
        dbname = self.env.cr.dbname
        with patch.object(cron_wakeup, "notify", wraps=cron_wakeup.notify) as kept:
            cron._notifydb()  # any other trigger: Odoo's new connection, as before
            self.assertFalse(kept.called)
            cron.with_context(ap_sync_kept_notify=True)._notifydb()
            kept.assert_called_once_with(dbname)
        self.assertEqual(self.received(2), [dbname, dbname])
        # When the kept connection fails, Odoo's own _notifydb still wakes the workers.
        with patch.object(cron_wakeup, "notify", return_value=False) as kept:
            cron.with_context(ap_sync_kept_notify=True)._notifydb()
            kept.assert_called_once_with(dbname)
        self.assertEqual(self.received(1), [dbname])
