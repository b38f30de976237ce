from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from .common import API_KEY, ApSyncCase, ReferencePlatformMixin, make_invoice, make_secret_unreadable


@tagged("post_install", "-at_install")
class TestPull(ReferencePlatformMixin, ApSyncCase):
    platform_values = {"mode": "pull", "pull_interval": 10}

    def setUp(self):
        super().setUp()
        for index in range(1, 4):
            invoice = make_invoice(doc_id=f"inv_p{index}", number=f"P-{index}")
            invoice["updated_at"] = f"2026-11-0{index}T10:00:00Z"
            self.server.add_invoice(invoice)
        pending = make_invoice(doc_id="inv_pending", approval_status="pending")
        self.server.add_invoice(pending)

    def stagings(self):
        return self.env["ap.invoice.staging"].search([("platform_id", "=", self.platform.id)])

    def pull_calls(self):
        return [r for r in self.server.requests_log if r["path"] == "/invoices"]

    def test_unreadable_credentials_wait_without_failing_the_cron(self):
        make_secret_unreadable(self.platform)
        self.env["ap.platform"]._cron_pull()  # does not fail on the unreadable secret
        self.assertFalse(self.pull_calls(), "nothing is sent without the credentials")
        self.assertFalse(self.stagings())
        self.assertGreater(self.platform.pull_next_at, fields.Datetime.now() + timedelta(minutes=14))
        item = self.env["ap.sync.exception"].search(
            [("exception_type", "=", "credentials_unreadable"), ("platform_id", "=", self.platform.id)]
        )
        self.assertEqual(item.state, "open")
        # The key is entered again: the next pull runs and the item closes itself.
        self.platform.api_key = API_KEY
        self.platform.pull_next_at = fields.Datetime.now() - timedelta(seconds=1)
        self.env["ap.platform"]._cron_pull()
        self.assertEqual(len(self.pull_calls()), 1)
        self.assertEqual(len(self.stagings()), 3)
        self.assertEqual(item.state, "resolved")

    def test_two_pages_and_a_429(self):
        self.server.fail_next(status=429, retry_after=120, path_prefix="/invoices")
        self.assertFalse(self.platform._pull_page(page_size=2))
        self.assertFalse(self.stagings())
        self.assertFalse(self.platform.pull_cursor)
        wait = self.platform.pull_next_at - fields.Datetime.now()
        self.assertTrue(timedelta(seconds=100) < wait <= timedelta(seconds=121), wait)
        self.assertEqual(
            self.env["ap.sync.log"].search([("platform_id", "=", self.platform.id)], limit=1).http_status, 429
        )
        # Not due yet: the cron leaves it alone.
        self.env["ap.platform"]._cron_pull()
        self.assertEqual(len(self.pull_calls()), 1)
        # Due again: page 1, then page 2.
        self.platform.pull_next_at = fields.Datetime.now() - timedelta(seconds=1)
        self.assertTrue(self.platform._pull_page(page_size=2))
        self.assertEqual(len(self.stagings()), 2)
        self.assertTrue(self.platform.pull_cursor)
        self.assertFalse(self.platform._pull_page(page_size=2))
        self.assertEqual(sorted(self.stagings().mapped("document_id")), ["inv_p1", "inv_p2", "inv_p3"])
        self.assertFalse(self.platform.pull_cursor)
        self.assertEqual(self.platform.pull_updated_since, fields.Datetime.to_datetime("2026-11-03 10:00:00"))
        self.assertGreater(self.platform.pull_next_at, fields.Datetime.now() + timedelta(minutes=9))
        calls = self.pull_calls()
        self.assertEqual(calls[-1]["query"].get("status"), "approved")
        self.assertTrue(calls[-1]["query"].get("cursor"))
        self.assertTrue(all(call["authorization_present"] for call in calls))
        # The next listing starts from the watermark and stores nothing twice.
        self.platform.pull_next_at = False
        self.env["ap.platform"]._cron_pull()
        self.assertEqual(self.pull_calls()[-1]["query"].get("updated_since"), "2026-11-03T10:00:00Z")
        self.assertEqual(len(self.stagings()), 3)
        self.assertEqual(
            set(self.stagings().mapped("event_ids.source")),
            {"pull"},
            "pulled through the webhook's intake path",
        )

    def test_cursor_not_advanced_when_a_batch_fails(self):
        self.assertTrue(self.platform._pull_page(page_size=2))
        cursor = self.platform.pull_cursor
        # The platform fails on page 2: nothing stored, cursor kept.
        self.server.fail_next(status=500, path_prefix="/invoices")
        self.assertFalse(self.platform._pull_page(page_size=2))
        self.assertEqual(self.platform.pull_cursor, cursor)
        self.assertEqual(len(self.stagings()), 2)
        # Storing fails on page 2: the error propagates (the cron rolls back), the cursor is untouched.
        self.platform.pull_next_at = False
        Event = type(self.env["ap.sync.event"])
        with (
            patch.object(Event, "_store", side_effect=RuntimeError("disk full")),
            self.assertRaises(RuntimeError),
        ):
            self.platform._pull_page(page_size=2)
        self.assertEqual(self.platform.pull_cursor, cursor)
        # Next time it resumes from the same cursor.
        self.assertFalse(self.platform._pull_page(page_size=2))
        self.assertEqual(len(self.stagings()), 3)
        self.assertEqual(self.pull_calls()[-1]["query"].get("cursor"), cursor)

    def test_invalid_invoice_in_a_page_is_logged_not_lost(self):
        broken = make_invoice(doc_id="inv_broken")
        broken["lines"][0]["quantity"] = 3.5
        broken["updated_at"] = "2026-11-05T10:00:00Z"
        self.server.add_invoice(broken)
        self.platform._pull_page(page_size=10)
        self.assertEqual(len(self.stagings()), 3)
        log = self.env["ap.sync.log"].search(
            [("platform_id", "=", self.platform.id), ("http_status", "=", 422)], limit=1
        )
        self.assertIn("/lines/0/quantity", log.error)
        self.assertIn(b"inv_broken", log.body_attachment_id.raw)

    def test_one_pull_at_a_time(self):
        with self.env.registry.cursor() as other_cr:
            other_cr.execute("SELECT pg_advisory_xact_lock(74201, %s)", [self.platform.id])
            self.assertFalse(self.platform._pull_page())
        self.assertFalse(self.pull_calls())

    def test_connection_error_waits_the_interval(self):
        self.platform.base_url = "http://127.0.0.1:9"  # discard port: nothing listens
        self.assertFalse(self.platform._pull_page())
        self.assertGreater(self.platform.pull_next_at, fields.Datetime.now() + timedelta(minutes=9))
        log = self.env["ap.sync.log"].search([("platform_id", "=", self.platform.id)], limit=1)
        self.assertEqual(log.outcome, "error")
