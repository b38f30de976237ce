"""The provider seam extended from a fake provider defined here, in the tests (no module of its own).

The fake provider adds itself to ``ap.platform.provider`` and overrides the provider methods, guarded
by ``provider`` as a real provider module does (see docs/providers.md).
"""

import json
from unittest.mock import patch

from odoo.tests import HttpCase, tagged

from .common import ApSyncCase, make_invoice

FAKE_TOKEN = "fake-provider-token"


class FakeProvider:
    """A platform that signs with a shared token header and posts {"id": ..., "doc": invoice}."""

    def _verify_inbound(self, headers, raw, context):
        if headers.get("x-fake-token") not in self._get_webhook_secrets():
            from odoo.addons.account_ap_sync.exceptions import IntakeError

            raise IntakeError(401, {"error": "invalid_signature"})
        context["fake"] = True
        return f"fake:{headers.get('x-fake-id')}", raw.decode()

    def _parse_inbound(self, text, headers, message_id, context):
        body = self._load_json(text)
        if body.get("kind") != "approved":
            return []
        return [(message_id, {"type": "invoice.approved", "timestamp": None, "data": body["doc"]})]

    def _render_inbound_answer(self, status, body, context):
        return 200, {"ok": status < 400, "code": status, "seen": bool(context.get("fake"))}, {"X-Fake": "1"}

    def _render_outbound(self, kind, payload, target=None, message=None):
        if kind != "erp_status":
            return None
        return {"method": "POST", "path": f"/fake/{target}/status", "payload": {"s": payload["status"]}}


@tagged("post_install", "-at_install")
class TestProviderSeam(ApSyncCase, HttpCase):
    def setUp(self):
        super().setUp()
        Platform = type(self.env["ap.platform"])
        field = Platform._fields["provider"]
        self.startPatcher(patch.object(field, "selection", [*field.selection, ("fake", "Fake")]))
        self.startPatcher(patch.dict(field._selection, {"fake": "Fake"}))
        for name in ("_verify_inbound", "_parse_inbound", "_render_inbound_answer", "_render_outbound"):
            original, fake = getattr(Platform, name), getattr(FakeProvider, name)

            def guarded(self, *args, _original=original, _fake=fake, **kwargs):
                if self.provider != "fake":
                    return _original(self, *args, **kwargs)
                return _fake(self, *args, **kwargs)

            self.startPatcher(patch.object(Platform, name, guarded))
        self.fake = self.env["ap.platform"].create(
            {"name": "Fake", "code": "fake_a", "provider": "fake", "company_id": self.company_a.id,
             "webhook_secret": FAKE_TOKEN, "base_url": "http://127.0.0.1:9/api"}
        )  # fmt: skip

    def post(self, body, token=FAKE_TOKEN, message_id="1"):
        response = self.opener.post(
            self.base_url() + "/ap_sync/webhook/fake_a",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-Fake-Token": token, "X-Fake-Id": message_id},
            timeout=30,
        )
        return response.status_code, response.json(), response.headers

    def test_inbound_through_the_fake_provider(self):
        invoice = make_invoice("fake_doc_1", "FAKE-1")
        status, answer, headers = self.post({"kind": "approved", "doc": invoice})
        self.assertEqual(
            (status, answer, headers.get("X-Fake")), (200, {"ok": True, "code": 202, "seen": True}, "1")
        )
        staging = self.env["ap.invoice.staging"].search([("platform_id", "=", self.fake.id)])
        self.assertEqual((staging.document_id, staging.number), ("fake_doc_1", "FAKE-1"))
        self.assertEqual(staging.event_ids.webhook_id, "fake:1")
        self.assertEqual(self.post({"kind": "approved", "doc": invoice})[1]["code"], 200, "redelivery")
        self.assertEqual(self.post({"kind": "approved", "doc": invoice}, token="nope")[1]["code"], 401)
        self.assertEqual(self.post({"kind": "other"}, message_id="2")[1]["code"], 200, "ignored")
        broken = dict(invoice, id="fake_doc_2", lines=[])
        self.assertEqual(self.post({"kind": "approved", "doc": broken}, message_id="3")[1]["code"], 422)
        self.assertEqual(self.env["ap.invoice.staging"].search_count([("platform_id", "=", self.fake.id)]), 1)

    def test_outbound_rendered_at_delivery(self):
        Outbox = self.env["ap.sync.outbox"]
        message = Outbox._enqueue_message(
            self.fake,
            "erp_status",
            {"status": "posted"},
            "doc_9",
            document_key="invoice:doc_9",
            status="posted",
        )
        self.assertEqual((message.method, message.path), ("POST", "/fake/doc_9/status"))
        self.assertEqual(message._get_request()["payload"], {"s": "posted"})
        nothing = Outbox._enqueue_message(
            self.fake, "vendor", {"name": "V"}, "V-1", document_key="vendor:V-1"
        )
        self.assertFalse(nothing, "the provider has no such call: not queued")
        self.assertFalse(Outbox.search([("platform_id", "=", self.fake.id), ("kind", "=", "vendor")]))
        # The platform changes provider: the queued message is rendered anew, no data migration.
        self.fake.provider = "generic"
        self.assertEqual(message._get_request()["path"], "/invoices/doc_9/erp-status")
        vendor = Outbox._enqueue_message(self.fake, "vendor", {"name": "V"}, "V-1", document_key="vendor:V-1")
        self.fake.provider = "fake"
        self.assertFalse(vendor._deliver_one())
        self.assertEqual(vendor.state, "cancelled", "no such call at delivery: cancelled, not a dead letter")
        self.assertFalse(self.env["ap.sync.exception"].search([("outbox_id", "=", vendor.id)]))

    def test_selection_add_exception_types_are_retried(self):
        Exception_ = self.env["ap.sync.exception"]
        field = type(Exception_)._fields["exception_type"]
        staging_field = type(self.env["ap.invoice.staging"])._fields["exception_type"]
        pipeline = Exception_._get_pipeline_types()
        self.assertIn("arithmetic", pipeline)
        # Flags and items about no record (a refused document, a failing cron) are not rerun.
        self.assertFalse({"delivery_failed", "intake_refused", "cron_failure"} & set(pipeline), pipeline)
        # A step added by another module stops records at its own type, added to both selections.
        fake = ("fake_check", "Fake check")
        with (
            patch.object(field, "selection", [*field.selection, fake]),
            patch.object(staging_field, "selection", [*staging_field.selection, fake]),
        ):
            self.assertIn("fake_check", Exception_._get_pipeline_types())
        self.assertEqual(Exception_._get_severity("possible_duplicate"), "high")
        transitions = self.env["ap.invoice.staging"]._get_state_transitions()
        self.assertIn("validated", transitions["received"])
        self.assertIn("ping", self.env["ap.sync.event"]._get_event_schemas())
