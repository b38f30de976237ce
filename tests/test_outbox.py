import time
from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import API_KEY, ReferencePlatformMixin, make_secret_unreadable
from .test_processing_bill import BillPipelineCase

PAYMENT_STATUS = {"in_payment": "in_payment", "paid": "paid", "partial": "partially_paid"}


@tagged("post_install", "-at_install")
class TestOutbox(ReferencePlatformMixin, BillPipelineCase):
    """Transactional outbox: written with the business change, delivered after it, retried, dead, replayed."""

    platform_values = {"retry_base": 30, "retry_cap": 3600, "retry_max_attempts": 8}

    def outbox(self):
        return self.env["ap.sync.outbox"].search([("platform_id", "=", self.platform.id)], order="id")

    def deliver_all(self, rounds=60):
        """Run the delivery cron, making every backed-off message due at once, until nothing is pending."""
        Outbox = self.env["ap.sync.outbox"]
        for _round in range(rounds):
            pending = self.outbox().filtered(lambda m: m.state == "pending")
            if not pending:
                return
            pending.sudo().write({"next_attempt_at": False})
            Outbox._cron_deliver()
        self.fail("messages still pending")

    def sent_statuses(self):
        return [(entry["invoice_id"], entry["body"]["status"]) for entry in self.server.erp_status]

    def enqueue(self, document="inv_x", status="posted"):
        return self.env["ap.sync.outbox"]._enqueue(
            self.platform, "erp_status", "POST", f"/invoices/{document}/erp-status", {"status": status},
            document_key=f"invoice:{document}", status=status,
        )  # fmt: skip

    # ------------------------------------------------------------------ message kinds
    def test_bill_lifecycle_messages_in_order(self):
        staging = self.process(self.stage(doc_id="inv_life", number="LIFE-1"))
        self.assertEqual(staging.state, "bill_created")
        self.assertEqual(self.outbox().mapped("status"), ["bill_created"])
        self.assertEqual(self.server.requests_log, [], "nothing is sent inside the business transaction")
        bill = staging.move_id
        bill.with_user(self.ap_user_a).action_post()  # a person posts (the system user never does)
        self.assertEqual(staging.state, "posted")
        payment = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=bill.ids)
            .create({"payment_date": "2026-11-20"})
        )
        payment._create_payments()
        self.env.flush_all()
        self.env.cr.precommit.run()  # the payment's transaction commits
        paid_status = PAYMENT_STATUS[bill.payment_state]
        self.assertEqual(self.outbox().mapped("status"), ["bill_created", "posted", paid_status])
        paid_message = self.outbox()[-1]
        self.assertEqual(paid_message.payload["amount_residual"], "0.0")
        self.assertEqual(paid_message.payload["payment_date"], "2026-11-20")
        self.assertEqual(paid_message.payload["erp_id"], bill.id)
        # The payment is undone: the bill is open again, the platform hears "posted".
        bill.line_ids.remove_move_reconcile()
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.assertEqual(self.outbox()[-1].status, "posted")
        self.deliver_all()
        self.assertEqual(
            self.sent_statuses(),
            [
                ("inv_life", "bill_created"),
                ("inv_life", "posted"),
                ("inv_life", paid_status),
                ("inv_life", "posted"),
            ],
        )
        keys = [entry["idempotency_key"] for entry in self.server.erp_status]
        self.assertEqual(keys, self.outbox().mapped("idempotency_key"))

    def test_rejected_message(self):
        staging = self.stage(doc_id="inv_rej", number="REJ-1")
        staging.action_reject_to_platform("Not our order")
        self.assertEqual(staging.state, "rejected")
        self.deliver_all()
        self.assertEqual(self.server.erp_status[0]["body"], {"status": "rejected", "erp_reference": staging.name,
                                                            "message": "Not our order"})  # fmt: skip

    # ------------------------------------------------------------------ faults
    def test_429_with_retry_after_then_delivered(self):
        message = self.enqueue()
        self.server.fail_next(status=429, retry_after=120)
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual((message.state, message.attempts, message.last_status), ("pending", 1, 429))
        wait = message.next_attempt_at - fields.Datetime.now()
        self.assertGreaterEqual(wait, timedelta(seconds=118))
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual(message.state, "pending", "not due yet")
        self.deliver_all()
        self.assertEqual(message.state, "done")
        self.assertEqual(len(self.server.erp_status), 1)

    def test_503_timeout_and_reset_are_transient(self):
        self.platform.write({"timeout_read": 0.5})
        for fault in ({"status": 503}, {"delay": 2}, {"reset": True}):
            message = self.enqueue(document=f"inv_{len(self.outbox())}")
            self.server.fail_next(**fault)
            self.env["ap.sync.outbox"]._cron_deliver()
            self.assertEqual((message.state, message.attempts), ("pending", 1), fault)
            self.assertTrue(message.last_error or message.last_status == 503, fault)
            backoff = message.next_attempt_at - fields.Datetime.now()
            self.assertLessEqual(backoff, timedelta(seconds=60), "random(0, min(cap, base * 2^1))")
        self.deliver_all()
        self.assertEqual(set(self.outbox().mapped("state")), {"done"})
        # The timed-out request was still processed by the platform, late (a "ghost write"): the retry
        # carried the same Idempotency-Key, so the platform recorded each message once.
        time.sleep(2)
        keys = [entry["idempotency_key"] for entry in self.server.erp_status]
        self.assertEqual(sorted(keys), sorted(self.outbox().mapped("idempotency_key")))

    def test_400_is_dead_at_once_then_replayed_with_the_same_key(self):
        message = self.enqueue()
        key = message.idempotency_key
        self.server.fail_next(status=400, body={"error": "bad status"})
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual((message.state, message.attempts, message.last_status), ("dead", 1, 400))
        self.assertIn("bad status", message.last_error)
        queue_item = self.env["ap.sync.exception"].search([("outbox_id", "=", message.id)])
        self.assertEqual((queue_item.exception_type, queue_item.state), ("delivery_failed", "open"))
        self.assertEqual(len(queue_item.activity_ids), 1, "one activity for a person")
        # A later message of the same document waits behind the dead one.
        later = self.enqueue(status="paid")
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual(later.state, "pending")
        self.assertEqual(len(self.server.requests_log), 1)
        with self.assertRaisesRegex(AccessError, "Only an AP Sync manager may replay messages"):
            message.with_user(self.ap_user_a).action_replay()
        with self.assertRaisesRegex(AccessError, "Only an AP Sync manager may cancel messages"):
            message.with_user(self.ap_user_a).action_cancel()
        message.with_user(self.manager).action_replay()
        self.assertEqual((message.state, message.idempotency_key), ("pending", key))
        self.assertEqual(queue_item.state, "resolved")
        self.assertFalse(queue_item.activity_ids)
        self.deliver_all()
        self.assertEqual(self.sent_statuses(), [("inv_x", "posted"), ("inv_x", "paid")])
        self.assertEqual(self.server.erp_status[0]["idempotency_key"], key)

    def test_max_attempts_make_a_dead_letter(self):
        self.platform.retry_max_attempts = 3
        message = self.enqueue()
        self.server.fail_next(count=3, status=503)
        for _attempt in range(3):
            message.sudo().next_attempt_at = False
            self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual((message.state, message.attempts), ("dead", 3))
        queue_item = self.env["ap.sync.exception"].search([("outbox_id", "=", message.id)])
        self.assertEqual(len(queue_item), 1)
        self.assertEqual(len(queue_item.activity_ids), 1, "one activity, not one per attempt")

    def test_unreadable_credentials_hold_the_platform_not_the_cron(self):
        """A key changed without re-encrypting: that platform's messages wait, without using attempts,
        one exception says why, and the other platforms' messages still go out."""
        other = self.env["ap.platform"].create(
            {"name": "Other", "code": "test_other", "company_id": self.company_a.id,
             "base_url": self.server.url, "api_key": API_KEY}
        )  # fmt: skip
        held = self.enqueue(document="inv_held")
        sent = self.env["ap.sync.outbox"]._enqueue(
            other, "erp_status", "POST", "/invoices/inv_other/erp-status", {"status": "posted"},
            document_key="invoice:inv_other", status="posted",
        )  # fmt: skip
        make_secret_unreadable(self.platform)
        self.env["ap.sync.outbox"]._cron_deliver()  # does not fail on the unreadable secret
        self.assertEqual(sent.state, "done")
        self.assertEqual(self.sent_statuses(), [("inv_other", "posted")])
        self.assertEqual((held.state, held.attempts), ("pending", 0))
        self.assertIn("cannot be read", held.last_error)
        self.assertGreater(held.next_attempt_at, fields.Datetime.now() + timedelta(minutes=14))
        item = self.env["ap.sync.exception"].search([("exception_type", "=", "credentials_unreadable")])
        self.assertEqual((item.platform_id, item.state, item.severity), (self.platform, "open", "high"))
        self.assertIn("Restore the previous encryption key", item.description)
        self.assertEqual(len(item.activity_ids), 1)
        # Later runs (new cursors) update the same item; the message still uses no attempt.
        for _run in range(3):
            self.env.cr.cache.pop("account_ap_sync.credentials_reported", None)
            held.sudo().next_attempt_at = False
            self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual((held.state, held.attempts), ("pending", 0))
        self.assertEqual(
            self.env["ap.sync.exception"].search([("exception_type", "=", "credentials_unreadable")]), item
        )
        self.assertEqual(item.occurrences, 4)
        # The administrator enters the key again: the message goes out at its next attempt.
        self.platform.api_key = API_KEY
        self.deliver_all()
        self.assertEqual((held.state, held.attempts), ("done", 1))
        self.assertEqual(self.sent_statuses(), [("inv_other", "posted"), ("inv_held", "posted")])
        # The credentials were read again: the item closes itself, with its activity.
        self.assertEqual(item.state, "resolved")
        self.assertIn("can be read again", item.resolution)
        self.assertFalse(item.activity_ids)

    def test_platform_down_for_20_attempts_then_back(self):
        self.platform.retry_max_attempts = 30
        messages = [self.enqueue(status=status) for status in ("bill_created", "posted", "paid")]
        other = self.enqueue(document="inv_other", status="bill_created")
        self.server.fail_next(count=20, status=503)
        self.deliver_all(rounds=80)
        self.assertEqual({m.state for m in messages + [other]}, {"done"})
        self.assertEqual(
            [status for doc, status in self.sent_statuses() if doc == "inv_x"],
            ["bill_created", "posted", "paid"],
        )
        self.assertEqual(len(self.server.erp_status), 4, "each delivered exactly once")
        attempts_seen = [r for r in self.server.requests_log if r["path"] == "/invoices/inv_x/erp-status"]
        self.assertGreaterEqual(len(attempts_seen), 3)

    def test_crash_after_sending_redelivers_with_the_same_key(self):
        message = self.enqueue()
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            message._deliver_one()
            raise RuntimeError("worker killed before the transaction committed")
        message.invalidate_recordset()
        self.assertEqual(message.state, "pending")
        self.assertEqual(len(self.server.erp_status), 1, "the platform got it once")
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual(message.state, "done")
        keys = [r["idempotency_key"] for r in self.server.requests_log]
        self.assertEqual(keys, [message.idempotency_key] * 2)
        self.assertEqual(len(self.server.erp_status), 1, "the replay is recognised by its key")

    def test_rolled_back_business_change_sends_nothing(self):
        staging = self.stage(doc_id="inv_rb", number="RB-1")
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            staging.action_reject_to_platform("changed my mind")
            raise RuntimeError("the business transaction fails")
        self.assertFalse(self.outbox())
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual(self.server.requests_log, [])

    def test_backoff_is_capped_full_jitter_and_honours_retry_after(self):
        message = self.enqueue()
        for attempt in range(1, 12):
            delay = message._get_backoff(attempt)
            self.assertTrue(0 <= delay <= min(3600, 30 * 2**attempt), (attempt, delay))
        self.assertGreaterEqual(message._get_backoff(1, retry_after=500), 500)

    def test_protected_fields(self):
        message = self.enqueue()
        with self.assertRaises(UserError):
            message.with_user(self.manager).write({"idempotency_key": "forged"})
        with self.assertRaises(UserError):
            message.with_user(self.manager).write({"payload": {"status": "paid"}})
        with self.assertRaises(UserError):
            self.env["ap.sync.outbox"].with_user(self.manager).create(
                {"platform_id": self.platform.id, "company_id": self.company_a.id, "kind": "erp_status",
                 "method": "POST", "path": "/x", "document_key": "x"}
            )  # fmt: skip

    # ------------------------------------------------------------------ master data
    def commit_hooks(self):
        self.env.flush_all()
        self.env.cr.precommit.run()

    def test_vendor_push_coalesces_a_burst(self):
        self.env["ap.sync.mapping"].create(
            {"mapping_type": "vendor", "external_code": "V-100", "partner_id": self.vendor.id}
        )
        self.commit_hooks()
        self.vendor.write({"email": "new@acme-test.example"})
        self.vendor.write({"phone": "+31 20 555 0100"})
        self.env["res.partner.bank"].create(
            {"acc_number": "DE89370400440532013000", "partner_id": self.vendor.id}
        )
        self.commit_hooks()
        vendor_messages = self.outbox().filtered(lambda m: m.kind == "vendor")
        self.vendor.write({"comment": "not a field the platform uses"})
        self.commit_hooks()
        self.assertEqual(self.outbox().filtered(lambda m: m.kind == "vendor"), vendor_messages)
        self.deliver_all()
        puts = [r for r in self.server.requests_log if r["path"] == "/vendors/V-100"]
        self.assertEqual(len(puts), 1, "mapping + changes before delivery reach the platform as one message")
        self.assertEqual(vendor_messages.sorted("id")[-1].state, "done")
        self.assertEqual(set(vendor_messages.sorted("id")[:-1].mapped("state")), {"cancelled"})
        pushed = self.server.vendors["V-100"]
        self.assertEqual((pushed["email"], pushed["phone"]), ("new@acme-test.example", "+31 20 555 0100"))
        self.assertEqual(
            sorted(bank["iban"] for bank in pushed["bank_accounts"]),
            ["DE89370400440532013000", "NL20INGB0001234567"],
        )
        # After delivery, a new change is a new message.
        self.vendor.write({"name": "Acme Supplies International"})
        self.commit_hooks()
        self.deliver_all()
        self.assertEqual(self.server.vendors["V-100"]["name"], "Acme Supplies International")
        self.assertEqual(len([r for r in self.server.requests_log if r["path"] == "/vendors/V-100"]), 2)

    def test_purchase_order_published_on_confirm_receipt_bill_and_cancel(self):
        order = self.make_po([(self.paper, 10, 12.5), (self.service, 2, 80.0)])
        self.commit_hooks()
        self.deliver_all()
        published = self.server.purchase_orders[order.name]
        self.assertEqual(published["state"], "purchase")
        self.assertEqual([line["qty_ordered"] for line in published["lines"]], ["10.0", "2.0"])
        self.assertEqual(published["lines"][0]["ref"], f"{order.name}/1")
        picking = order.picking_ids
        picking.move_ids.quantity = 4
        picking.move_ids.picked = True
        picking.with_context(cancel_backorder=False)._action_done()
        self.commit_hooks()
        self.deliver_all()
        self.assertEqual(self.server.purchase_orders[order.name]["lines"][0]["qty_received"], "4.0")
        staging = self.process(
            self.stage(doc_id="inv_pub", number="PUB-1", purchase_order_ref=order.name,
                       lines=[{"quantity": "4", "unit_price": "12.50", "po_line_ref": f"{order.name}/1"}])
        )  # fmt: skip
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        self.commit_hooks()
        self.deliver_all()
        self.assertEqual(self.server.purchase_orders[order.name]["lines"][0]["qty_billed"], "4.0")
        draft = self.env["purchase.order"].create({"partner_id": self.vendor.id})
        draft.button_cancel()
        self.commit_hooks()
        self.assertNotIn(
            draft.name, [m.path.rsplit("/", 1)[-1] for m in self.outbox()], "never published: not sent"
        )

    def test_a_name_with_slashes_is_one_path_segment(self):
        order = self.env["purchase.order"].create({
            "name": "PO/2024/0001", "partner_id": self.vendor.id,
            "order_line": [Command.create({"product_id": self.paper.id, "product_qty": 3, "price_unit": 12.5})],
        })  # fmt: skip
        order.button_confirm()
        self.commit_hooks()
        self.deliver_all()
        [put] = [r for r in self.server.requests_log if r["method"] == "PUT"]
        self.assertEqual((put["path"], put["status"]), ("/purchase-orders/PO%2F2024%2F0001", 200))
        self.assertEqual(self.server.purchase_orders["PO/2024/0001"]["number"], "PO/2024/0001")
        # Every kind of message and the approval check quote what they put in the path.
        render = self.platform._render_outbound
        self.assertEqual(render("erp_status", {}, target="inv/7")["path"], "/invoices/inv%2F7/erp-status")
        self.assertEqual(render("vendor", {}, target="V/1?x#y")["path"], "/vendors/V%2F1%3Fx%23y")
        self.assertEqual(render("vendor_request", {}, target="V 2")["path"], "/vendors/V%202")
        staging = self.stage(doc_id="inv/8", number="SLASH-8")
        self.assertEqual(self.platform._get_fetch_document_call(staging)["path"], "/invoices/inv%2F8")

    # ------------------------------------------------------------------ vendor onboarding
    def request_vendor(self, external_id="V-900", event_type="vendor.onboarding_requested", **extra):
        import json

        data = {"schema_version": "1.0", "external_id": external_id, "name": "Fresh Vendor BV", "vat": "NL005566778B01",
                "email": "ap@fresh.example", "address": {"street": "Kade 1", "zip": "1000 AA", "city": "Amsterdam",
                                                         "country": "NL"},
                "bank_accounts": [{"iban": "NL02ABNA0123456789", "holder": "Fresh Vendor BV"}]} | extra  # fmt: skip
        envelope = {"type": event_type, "data": data}
        status, _body, event = self.env["ap.sync.event"]._store(
            self.platform,
            f"mv-{external_id}-{event_type}-{len(self.outbox())}",
            envelope,
            json.dumps(envelope).encode(),
        )
        self.assertEqual(status, 202)
        return self.env["ap.vendor.request"].search(
            [("external_id", "=", external_id)], order="id desc", limit=1
        )

    def test_vendor_onboarding_approved(self):
        request = self.request_vendor()
        self.assertEqual(
            (request.state, request.kind, request.country_id.code), ("to_review", "onboarding", "NL")
        )
        self.assertEqual(len(request.activity_ids), 1, "a manager is asked to review it")
        self.assertFalse(
            self.env["res.partner"].search([("vat", "=", "NL005566778B01")]), "nothing created yet"
        )
        with self.assertRaisesRegex(AccessError, "Only an AP Sync manager may decide on vendor requests"):
            request.with_user(self.ap_user_a).action_approve()
        request.with_user(self.manager).action_approve()
        partner = request.partner_id
        self.assertEqual(
            (request.state, partner.name, partner.vat), ("approved", "Fresh Vendor BV", "NL005566778B01")
        )
        self.assertEqual(partner.bank_ids.sanitized_acc_number, "NL02ABNA0123456789")
        self.assertEqual(
            self.env["ap.sync.mapping"]._lookup("vendor", "V-900", platform=self.platform), partner
        )
        self.commit_hooks()
        self.deliver_all()
        pushed = self.server.vendors["V-900"]
        self.assertEqual((pushed["blocked"], pushed["name"]), (False, "Fresh Vendor BV"))
        self.assertEqual(pushed["bank_accounts"][0]["iban"], "NL02ABNA0123456789")

    def test_vendor_onboarding_bank_accounts_checked(self):
        bad = self.request_vendor(external_id="V-901", bank_accounts=[{"iban": "NL00BANK0000000000"}])
        with self.assertRaises(UserError):
            bad.with_user(self.manager).action_approve()
        taken = self.request_vendor(external_id="V-902", bank_accounts=[{"iban": "NL20INGB0001234567"}])
        with self.assertRaises(UserError):
            taken.with_user(self.manager).action_approve()
        self.assertEqual(taken.state, "to_review")

    def test_vendor_onboarding_refused_and_update_refreshes(self):
        request = self.request_vendor(external_id="V-903")
        again = self.request_vendor(
            external_id="V-903", event_type="vendor.updated", email="new@fresh.example"
        )
        self.assertEqual(
            (again, again.email), (request, "new@fresh.example"), "the open review item is refreshed"
        )
        wizard = (
            self.env["ap.vendor.request.refuse"]
            .with_user(self.manager)
            .create({"request_ids": request.ids, "reason": "Not a supplier we work with"})
        )
        wizard.action_confirm()
        self.assertEqual((request.state, request.reason), ("refused", "Not a supplier we work with"))
        self.deliver_all()
        pushed = self.server.vendors["V-903"]
        self.assertEqual((pushed["blocked"], pushed["reason"]), (True, "Not a supplier we work with"))
