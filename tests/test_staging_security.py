import json
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import ApSyncCase, make_invoice


@tagged("post_install", "-at_install")
class TestStagingSecurity(ApSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.staging_a = cls._stage(cls.platform, "inv_sec_a")
        cls.staging_b = cls._stage(cls.platform_b, "inv_sec_b")
        cls.event_a, cls.event_b = cls.staging_a.event_ids, cls.staging_b.event_ids
        cls.log_a = cls.env["ap.sync.log"]._log_call(
            platform=cls.platform, direction="inbound", endpoint="/a", outcome="success", http_status=202
        )
        cls.log_b = cls.env["ap.sync.log"]._log_call(
            platform=cls.platform_b, direction="inbound", endpoint="/b", outcome="success", http_status=202
        )

    @classmethod
    def _stage(cls, platform, doc_id):
        envelope = {"type": "invoice.approved", "data": make_invoice(doc_id=doc_id)}
        raw = json.dumps(envelope).encode()
        return cls.env["ap.sync.event"]._store(platform, f"m-{doc_id}", envelope, raw)[2].staging_id

    def test_outsider_reads_nothing(self):
        for record in (self.staging_a, self.staging_a.line_ids, self.event_a, self.log_a):
            with self.assertRaises(AccessError, msg=record._name):
                record.with_user(self.outsider).read(["id"])
        with self.assertRaises(AccessError):
            self.staging_a.payload_attachment_id.with_user(self.outsider).read(["raw"])

    def test_company_a_user_does_not_see_company_b(self):
        for model, mine, theirs in (
            ("ap.invoice.staging", self.staging_a, self.staging_b),
            ("ap.invoice.staging.line", self.staging_a.line_ids, self.staging_b.line_ids),
            ("ap.sync.event", self.event_a, self.event_b),
            ("ap.sync.log", self.log_a, self.log_b),
        ):
            visible = self.env[model].with_user(self.ap_user_a).search([("id", "in", (mine | theirs).ids)])
            self.assertEqual(visible, mine, model)
            with self.assertRaises(AccessError, msg=model):
                theirs.with_user(self.ap_user_a).read(["id"])

    def test_user_cannot_forge_staging_or_events(self):
        as_user = self.env["ap.invoice.staging"].with_user(self.ap_user_a)
        with self.assertRaises(AccessError):
            as_user.create(
                {
                    "name": "x",
                    "platform_id": self.platform.id,
                    "company_id": self.company_a.id,
                    "document_id": "forged",
                }
            )
        with self.assertRaises(AccessError):
            self.event_a.with_user(self.ap_user_a).write({"state": "applied"})
        with self.assertRaises(AccessError):
            self.staging_a.with_user(self.ap_user_a).unlink()

    def test_retention_purges_payloads_keeps_entries(self):
        log = self.env["ap.sync.log"]._log_call(
            platform=self.platform,
            direction="outbound",
            endpoint="/old",
            outcome="rejected",
            http_status=400,
            request_body={"x": 1},
            response_body='{"error": "bad"}',
        )
        recent = self.env["ap.sync.log"]._log_call(
            platform=self.platform,
            direction="outbound",
            endpoint="/new",
            outcome="rejected",
            http_status=400,
            request_body={"x": 2},
        )
        old_date = fields.Datetime.now() - timedelta(days=91)
        self.env.cr.execute("UPDATE ap_sync_log SET create_date = %s WHERE id = %s", [old_date, log.id])
        log.invalidate_recordset()
        attachments = log.body_attachment_id | log.response_attachment_id
        self.assertEqual(len(attachments), 2)
        self.env["ap.sync.log"]._cron_purge_payloads()
        self.assertFalse(attachments.exists())
        self.assertTrue(log.exists())
        self.assertTrue(log.payload_purged)
        self.assertTrue(recent.body_attachment_id.exists())
        # The period is a setting.
        self.env["ir.config_parameter"].sudo().set_param("account_ap_sync.log_retention_days", "1")
        self.env.cr.execute(
            "UPDATE ap_sync_log SET create_date = %s WHERE id = %s",
            [fields.Datetime.now() - timedelta(days=2), recent.id],
        )
        recent.invalidate_recordset()
        body = recent.body_attachment_id
        self.env["ap.sync.log"]._cron_purge_payloads()
        self.assertFalse(body.exists())
        # Staging records and their payloads are never purged.
        self.assertTrue(self.staging_a.payload_attachment_id.exists())
