"""The BILL provider against the fake BILL of tools/bill_server.py (built from BILL's documented examples)."""

import importlib
import threading
from datetime import timedelta
from decimal import Decimal

import requests

from odoo import fields
from odoo.tests import HttpCase, tagged

from ..models import ap_platform_bill
from ..utils import bill_mapping
from .common import CapturedLogs
from .test_processing_bill import BillPipelineCase

# tools/ is on sys.path once .common is imported
_fake = importlib.import_module("bill_server")
BillServer, bill_signature, dumps = _fake.BillServer, _fake.bill_signature, _fake.dumps
make_bill, make_payment, make_vendor = _fake.make_bill, _fake.make_payment, _fake.make_vendor

CODE = "bill_us"
ACCOUNT_ID = "0ca02WKKWLSRRCFItdlc"  # a chartOfAccountId, as in the bill.created sample
TAX_ID = "12-3456789"


class BillCase(BillPipelineCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = BillServer().start()
        cls.addClassCleanup(cls.server.stop)
        company = cls.company_a
        cls.bank = cls.env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", company.id)], limit=1
        )
        cls.expense = cls.env["account.account"].search(
            [("account_type", "=", "expense"), ("company_ids", "in", company.id)], limit=1
        )
        cls.bill_platform = cls.env["ap.platform"].create({
            "name": "BILL US", "code": CODE, "provider": "bill", "company_id": company.id, "mode": "both",
            "base_url": cls.server.url, "api_login": cls.server.username, "api_password": cls.server.password,
            "api_key": cls.server.dev_key, "bill_organization_id": cls.server.organization_id,
            "webhook_secret": cls.server.security_key, "bill_payment_journal_id": cls.bank.id,
        })  # fmt: skip
        cls.env["ap.sync.mapping"].create({
            "mapping_type": "account", "external_code": ACCOUNT_ID, "account_id": cls.expense.id,
            "company_id": company.id, "platform_id": cls.bill_platform.id,
        })  # fmt: skip
        cls.us_vendor = cls.env["res.partner"].create(
            {"name": "Happy Music Supplies", "is_company": True, "vat": TAX_ID, "supplier_rank": 1}
        )

    def setUp(self):
        super().setUp()
        self.server.clear()  # BILL forgets its sessions: Odoo's copy must not leak from one test to the next
        ap_platform_bill._sessions.clear()
        self.env["ap.platform.secret"]._set(self.bill_platform, "bill_session", None)
        self.env.cr.cache.pop("account_ap_sync.bill_vendors", None)  # BILL vendors read by an earlier test
        self.server.add_vendor(make_vendor(tax_id=TAX_ID))

    # ------------------------------------------------------------------ helpers
    def bill(self, bill_id="00n02BILL0000000001", **kwargs):
        kwargs.setdefault(
            "lines", [{"amount": "1234.56", "chartOfAccountId": ACCOUNT_ID, "description": "Guitars"}]
        )
        return self.server.add_bill(make_bill(bill_id=bill_id, **kwargs))

    def send(self, event_type, obj, **kwargs):
        self.env.flush_all()  # what the test did is committed before BILL calls
        response = self.server.send_event(self.base_url(), CODE, event_type, obj, **kwargs)
        self.env.invalidate_all()  # the request wrote through its own environment
        return response.status_code, response.json()

    def staging(self, bill_id="00n02BILL0000000001"):
        return self.env["ap.invoice.staging"].search(
            [("platform_id", "=", self.bill_platform.id), ("document_id", "=", bill_id)]
        )

    def to_odoo_bill(self, bill):
        status, answer = self.send("bill.created", bill)
        self.assertEqual(status, 200, answer)
        staging = self.staging(bill["id"])
        staging._process()
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        return staging

    def pay_in_odoo(self, move, amount=None):
        values = {"journal_id": self.bank.id, "payment_date": "2026-12-20"}
        if amount is not None:
            values["amount"] = amount
        wizard = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create(values)
        )
        payment = wizard._create_payments()
        self.env.cr.precommit.run()  # the payment's transaction commits: the outbox message is written
        return payment

    def deliver(self):
        Outbox = self.env["ap.sync.outbox"]
        for _round in range(10):
            pending = Outbox.search([("platform_id", "=", self.bill_platform.id), ("state", "=", "pending")])
            if not pending:
                return
            pending.sudo().write({"next_attempt_at": False})
            Outbox._cron_deliver()

    def exceptions(self, kind):
        return self.env["ap.sync.exception"].search(
            [("platform_id", "=", self.bill_platform.id), ("exception_type", "=", kind)]
        )


@tagged("post_install", "-at_install")
class TestBillMapping(BillCase):
    def test_amounts_are_read_exactly_never_through_float(self):
        text = (
            '{"id": "b1", "vendorId": "v1", "invoice": {"invoiceNumber": "N1", "invoiceDate": "2026-12-15"},'
        )
        text += ' "amount": 0.30, "billLineItems": [{"amount": 0.1}, {"amount": 0.2}], "approvalStatus": "APPROVED"}'
        invoice = bill_mapping.bill_to_invoice(bill_mapping.loads(text))
        self.assertEqual([line["net_amount"] for line in invoice["lines"]], ["0.1", "0.2"])
        self.assertEqual(invoice["totals"], {"net": "0.30", "tax": "0", "gross": "0.30", "payable": "0.30"})
        big = bill_mapping.loads('{"amount": 12345678901234.57}')["amount"]
        self.assertEqual(bill_mapping.money(big, "/amount"), "12345678901234.57")
        with self.assertRaises(bill_mapping.BillMappingError):
            bill_mapping.money(0.1, "/amount")
        # A JSON-escaped notification (a JSON string holding the JSON) is read the same way.
        self.assertEqual(
            bill_mapping.loads(dumps(dumps({"amount": Decimal("1.10")})))["amount"], Decimal("1.10")
        )

    def test_bill_becomes_an_odoo_bill_with_exact_amounts(self):
        bill = self.bill(
            invoice_number="HMS-2026-12",
            lines=[
                {"amount": "999999.99", "chartOfAccountId": ACCOUNT_ID, "description": "Pianos"},
                {"amount": "0.07", "chartOfAccountId": ACCOUNT_ID, "quantity": "7", "price": "0.01"},
            ],
            purchaseOrderNumber=None,
        )
        staging = self.to_odoo_bill(bill)
        move = staging.move_id
        self.assertEqual(move.partner_id, self.us_vendor, "vendor found by the BILL vendor's taxId")
        self.assertEqual(staging.vendor_match_rule, "vat")
        self.assertEqual((move.ref, str(move.invoice_date), str(move.invoice_date_due)),
                         ("HMS-2026-12", "2026-12-15", "2026-12-31"))  # fmt: skip
        self.assertEqual(Decimal(str(move.amount_total)), Decimal("1000000.06"))
        self.assertEqual(move.currency_id.name, "USD")
        self.assertEqual(move.invoice_line_ids.mapped("account_id"), self.expense)
        self.assertEqual(staging.document_json["totals"]["gross"], "1000000.06")

    def test_vendor_unreadable_in_bill_is_matched_by_name(self):
        self.server.vendors.clear()  # GET /v3/vendors/{id} answers 404
        staging = self.to_odoo_bill(self.bill())
        self.assertEqual((staging.partner_id, staging.vendor_match_rule), (self.us_vendor, "name"))

    def test_vendor_mapping_wins_and_po_number_is_matched(self):
        self.env["ap.sync.mapping"].create({
            "mapping_type": "vendor", "external_code": "00902BILKFECNEV2oji1", "partner_id": self.vendor.id,
            "company_id": self.company_a.id, "platform_id": self.bill_platform.id,
        })  # fmt: skip
        status, _answer = self.send("bill.created", self.bill(purchaseOrderNumber="P-NOPE-1"))
        self.assertEqual(status, 200)
        staging = self.staging()
        staging._process()
        self.assertEqual(staging.partner_id, self.vendor)
        self.assertEqual(staging.purchase_order_ref, "P-NOPE-1")
        self.assertEqual(staging.exception_type, "po_not_found", staging.exception_reason)
        self.assertFalse(self.server.calls_to("GET", "/v3/vendors"), "no vendor read when a mapping exists")


@tagged("post_install", "-at_install")
class TestBillWebhooks(BillCase):
    def test_signature_checked_over_the_raw_bytes(self):
        bill = self.bill()
        raw = dumps({"metadata": {"eventId": "e-1", "eventType": "bill.created",
                                  "organizationId": self.server.organization_id}, "bill": bill}).encode()  # fmt: skip
        for signature, body in (
            (False, raw),  # missing
            ("", raw),  # empty
            ("bm90IGEgc2lnbmF0dXJl", raw),  # not the HMAC
            (None, raw + b" "),  # computed over another body: sent changed
        ):
            kwargs = {"body": body, "signature": signature}
            if signature is None:
                kwargs["signature"] = bill_signature(self.server.security_key, raw)
            status, answer = self.send("bill.created", bill, **kwargs)
            self.assertEqual((status, answer.get("error")), (401, "invalid_signature"), signature)
        status, answer = self.send("bill.created", bill, security_key="another-key")
        self.assertEqual(status, 401)
        self.assertFalse(self.staging())
        self.assertFalse(self.env["ap.sync.event"].search([("platform_id", "=", self.bill_platform.id)]))
        status, answer = self.send("bill.created", bill, body=raw)
        self.assertEqual((status, answer["status"]), (200, "accepted"))

    def test_event_id_deduplicates(self):
        bill = self.bill()
        status, first = self.send("bill.created", bill, event_id="evt-0001")
        self.assertEqual((status, first["status"]), (200, "accepted"))
        status, again = self.send("bill.created", bill, event_id="evt-0001")
        self.assertEqual(
            (status, again["status"], again["reference"]), (200, "duplicate", first["reference"])
        )
        self.assertEqual(len(self.staging()), 1)
        events = self.env["ap.sync.event"].search([("platform_id", "=", self.bill_platform.id)])
        self.assertEqual(events.mapped("webhook_id"), ["evt-0001"])

    def test_unknown_event_and_archived_bill(self):
        status, answer = self.send(
            "invoice.created", {"id": "in_1"}
        )  # an AR event: not acted on, not retried
        self.assertEqual((status, answer.get("status")), (200, "ignored"), answer)
        staging = self.staging() or None
        self.assertIsNone(staging)
        self.send("bill.created", self.bill(approval_status="ASSIGNED"))
        status, _answer = self.send("bill.archived", dict(self.bill(), archived=True))
        self.assertEqual(status, 200)
        self.assertEqual(self.staging().state, "cancelled")

    def test_vendor_events_become_vendor_requests(self):
        status, _answer = self.send(
            "vendor.updated", make_vendor(vendor_id="00902NEWVENDOR01", name="New Co")
        )
        self.assertEqual(status, 200)
        request = self.env["ap.vendor.request"].search([("platform_id", "=", self.bill_platform.id)])
        self.assertEqual(len(request), 1)


@tagged("post_install", "-at_install")
class TestBillApproval(BillCase):
    def test_unapproved_bill_waits_then_the_backstop_finds_the_approval(self):
        bill = self.bill(approval_status="ASSIGNED")
        self.send("bill.created", bill)
        staging = self.staging()
        staging._process()
        self.assertEqual((staging.state, staging.exception_type), ("exception", "approval_pending"))
        self.assertEqual(staging.approval_status, "assigned")
        self.assertIn("ASSIGNED", staging.exception_reason)
        self.assertFalse(staging.move_id)
        # Approved in BILL: no event. The scheduled pull (backstop) finds it.
        self.server.approve_bill(bill["id"])
        self.bill_platform.pull_next_at = False
        self.env["ap.platform"]._cron_pull()
        listing = self.server.calls_to("GET", "/v3/bills")[0]
        self.assertEqual(listing["query"]["sort"], "updatedTime:asc")
        self.assertEqual(staging.state, "received")
        staging._process()
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        self.assertTrue(staging.move_id)
        # Re-read just before billing; the approvers are kept as evidence.
        self.assertTrue(self.server.calls_to("GET", f"/v3/bills/{bill['id']}"))
        self.assertTrue(staging.approval_evidence_id)
        self.assertIn("00602APPROVER0001", staging.approval_evidence_id.raw.decode())
        self.assertIn("APPROVED", staging.approvers)
        self.assertFalse(self.exceptions("approval_pending").filtered(lambda e: e.state == "open"))

    def test_approval_reread_waits_while_bill_cannot_answer(self):
        bill = self.bill()
        self.send("bill.created", bill)
        staging = self.staging()
        self.server.fail_next(
            status=503, path_prefix=f"/v3/bills/{bill['id']}", headers={"Retry-After": "90"}
        )
        staging._process()
        self.assertEqual(
            (staging.state, staging.platform_retry_count), ("received", 1), staging.exception_reason
        )
        wait = staging.platform_retry_at - fields.Datetime.now()
        self.assertTrue(timedelta(seconds=80) < wait <= timedelta(seconds=91), f"waits Retry-After: {wait}")
        self.assertFalse(
            self.exceptions("approval_not_confirmed"), "a busy BILL is no exception for a person"
        )
        staging.platform_retry_at = False
        staging._process()
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        # A refusal is final: the record stops at once.
        other = self.bill(bill_id="00n02BILL0000000002", invoice_number="INV-REFUSED",
                          lines=[{"amount": "77.70", "chartOfAccountId": ACCOUNT_ID, "description": "Strings"}])  # fmt: skip
        self.send("bill.created", other)
        refused = self.staging(other["id"])
        self.server.fail_next(status=404, path_prefix=f"/v3/bills/{other['id']}")
        refused._process()
        self.assertEqual((refused.state, refused.exception_type), ("exception", "approval_not_confirmed"))

    def test_backstop_is_paginated_by_updated_time(self):
        for index in range(5):
            self.bill(bill_id=f"00n02PAGE{index:011d}", invoice_number=f"P-{index}")
        pages = 0
        while self.bill_platform._pull_page(page_size=2):
            pages += 1
        self.assertEqual(pages, 2)
        staged = self.env["ap.invoice.staging"].search([("platform_id", "=", self.bill_platform.id)])
        self.assertEqual(len(staged), 5)
        self.assertTrue(self.bill_platform.pull_updated_since)
        # The next pull asks only for what changed since.
        self.bill_platform._pull_page(page_size=2)
        self.assertIn("updatedTime:gte:", self.server.calls_to("GET", "/v3/bills")[-1]["query"]["filters"])

    def test_changed_after_approval_is_not_billed(self):
        bill = self.bill()
        self.send("bill.created", bill)
        self.server.touch(bill["id"], amount=Decimal("2000.00"))
        staging = self.staging()
        staging._process()
        self.assertEqual(staging.exception_type, "approval_not_confirmed", staging.exception_reason)
        self.assertFalse(staging.move_id)

    def test_denied_bill(self):
        self.send("bill.created", self.bill(approval_status="DENIED"))
        staging = self.staging()
        staging._process()
        self.assertEqual(staging.exception_type, "approval_not_confirmed")


@tagged("post_install", "-at_install")
class TestBillSession(BillCase):
    def test_one_login_reused_then_one_relogin_after_expiry(self):
        with CapturedLogs() as logs:
            for index in range(3):
                self.bill(
                    bill_id=f"00n02SESS{index:011d}",
                    invoice_number=f"S-{index}",
                    lines=[{"amount": f"{100 + index}.25", "chartOfAccountId": ACCOUNT_ID}],
                )
            while self.bill_platform._pull_page(page_size=1):
                pass
            self.assertEqual(len(self.server.logins), 1, "one login for the whole run")
            self.server.expire_sessions()  # 35 idle minutes later
            for staging in self.env["ap.invoice.staging"].search(
                [("platform_id", "=", self.bill_platform.id)]
            ):
                staging._process()
                self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        self.assertEqual(len(self.server.logins), 2, "exactly one new login after the expiry")
        expired = [r for r in self.server.requests_log if r["status"] == 401]
        self.assertEqual(len(expired), 1, [(r["method"], r["path"], r["session_id"]) for r in expired])
        secret = (
            self.env["ap.platform.secret"]
            .sudo()
            .search([("platform_id", "=", self.bill_platform.id), ("kind", "=", "bill_session")])
        )
        session = self.server.requests_log[-1]["session_id"]
        self.assertTrue(secret and session and secret.token != session, "the session is stored encrypted")
        text = logs.text + "\n".join(
            filter(
                None,
                self.env["ap.sync.log"].search([("platform_id", "=", self.bill_platform.id)]).mapped("error"),
            )
        )
        for value in (self.server.password, self.server.dev_key, session):
            self.assertNotIn(value, text)

    def test_session_expiring_in_the_middle_of_a_run(self):
        for index in range(4):
            self.bill(bill_id=f"00n02MIDR{index:011d}", invoice_number=f"M-{index}")
        self.bill_platform._pull_page(page_size=1)
        self.server.expire_after(1)
        while self.bill_platform._pull_page(page_size=1):
            pass
        staged = self.env["ap.invoice.staging"].search([("platform_id", "=", self.bill_platform.id)])
        self.assertEqual(len(staged), 4)
        self.assertEqual(len(self.server.logins), 2)

    def test_busy_answers_back_off(self):
        self.bill()
        self.server.fail_next(status=429, path_prefix="/v3/bills", headers={"Retry-After": "120"})
        self.assertFalse(self.bill_platform._pull_page())
        self.assertFalse(self.staging())
        wait = self.bill_platform.pull_next_at - fields.Datetime.now()
        self.assertTrue(timedelta(seconds=100) < wait <= timedelta(seconds=121), f"waits Retry-After: {wait}")

    def test_redirect_to_another_host_is_not_followed_with_the_session(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = []

        class Recorder(BaseHTTPRequestHandler):
            def do_GET(self):
                received.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"results": []}')

            def log_message(self, *args):
                pass

        other = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        threading.Thread(target=other.serve_forever, daemon=True).start()
        self.addCleanup(other.server_close)
        self.addCleanup(other.shutdown)
        location = f"http://127.0.0.1:{other.server_address[1]}/v3/bills"
        self.server.fail_next(status=302, path_prefix="/v3/bills", headers={"Location": location})
        self.assertFalse(self.bill_platform._pull_page())
        self.assertEqual(received, [], "the devKey and sessionId headers never reach another host")
        self.assertTrue(self.bill_platform.pull_next_at, "the failed page is tried again later")

    def test_at_most_three_calls_at_once(self):
        self.server.latency = 0.2
        session = self.bill_platform._bill_get_session()
        semaphore = self.bill_platform._bill_semaphore()
        headers = {"devKey": self.server.dev_key, "sessionId": session}

        def call():
            with semaphore:
                requests.get(self.server.url + "/v3/bills", headers=headers, timeout=10)

        threads = [threading.Thread(target=call) for _index in range(7)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(self.server.peak_concurrency, 3)
        self.assertFalse([r for r in self.server.requests_log if r["status"] == 429])


@tagged("post_install", "-at_install")
class TestBillPayments(BillCase):
    def posted_bill(self, amount="500.00"):
        staging = self.to_odoo_bill(self.bill(lines=[{"amount": amount, "chartOfAccountId": ACCOUNT_ID}]))
        staging.move_id.with_user(self.ap_user_a).action_post()  # a person posts
        return staging

    def odoo_payments(self, move):
        return move._get_reconciled_payments()

    def test_paid_in_odoo_is_recorded_in_bill_as_paid_outside_bill(self):
        staging = self.posted_bill("500.00")
        self.pay_in_odoo(staging.move_id, amount=200.10)
        self.deliver()
        self.assertEqual(len(self.server.recorded_payments), 1)
        body = self.server.recorded_payments[0]["body"]
        self.assertEqual(body["payments"], [{"billId": staging.document_id, "amount": Decimal("200.10")}])
        self.assertEqual((body["vendorId"], body["toPrintCheck"]), ("00902BILKFECNEV2oji1", False))
        self.pay_in_odoo(staging.move_id)  # the rest
        self.deliver()
        self.assertEqual([p["body"]["payments"][0]["amount"] for p in self.server.recorded_payments],
                         [Decimal("200.10"), Decimal("299.90")])  # fmt: skip
        self.assertEqual(self.server.bills[staging.document_id]["paymentStatus"], "PAID")
        # BILL notifies the payment Odoo recorded: Odoo already has it.
        recorded = self.server.payments[self.server.recorded_payments[-1]["payment_id"]]
        status, _answer = self.send("payment.updated", recorded)
        self.assertEqual(status, 200)
        self.assertEqual(len(self.odoo_payments(staging.move_id)), 2)
        self.assertIn(staging.move_id.payment_state, ("paid", "in_payment"))
        self.assertFalse(self.exceptions("payment_conflict"))

    def test_record_payment_acts_on_the_decision_the_error_carries(self):
        staging = self.posted_bill("80.00")
        self.server.fail_next(
            status=503, path_prefix="/v3/bills/record-payment", headers={"Retry-After": "300"}
        )
        self.pay_in_odoo(staging.move_id)
        message = self.env["ap.sync.outbox"].search(
            [("platform_id", "=", self.bill_platform.id), ("state", "=", "pending")]
        )
        self.assertEqual(len(message), 1)
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual((message.state, message.attempts, message.last_status), ("pending", 1, 503))
        wait = message.next_attempt_at - fields.Datetime.now()
        self.assertTrue(timedelta(seconds=290) < wait <= timedelta(seconds=301), f"waits Retry-After: {wait}")
        self.server.fail_next(status=400, path_prefix="/v3/bills/record-payment",
                              body=[{"code": "BDC_5404", "message": "Invalid amount"}])  # fmt: skip
        message.next_attempt_at = False
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual((message.state, message.last_status), ("dead", 400), "a refusal is not tried again")
        self.assertIn("Invalid amount", message.last_error)
        self.assertEqual(self.server.recorded_payments, [])
        self.assertEqual(len(self.env["ap.sync.exception"].search([("outbox_id", "=", message.id)])), 1)

    def test_paid_through_bill_is_registered_once(self):
        staging = self.posted_bill("500.00")
        payment = self.server.pay_bill(staging.document_id)
        status, _answer = self.send("payment.updated", payment, event_id="evt-pay-1")
        self.assertEqual(status, 200)
        move = staging.move_id
        self.assertIn(move.payment_state, ("paid", "in_payment"))
        paid = self.odoo_payments(move)
        self.assertEqual((len(paid), paid.journal_id, paid.amount), (1, self.bank, 500.0))
        # Redelivered, and delivered again under another event id: still one payment.
        self.send("payment.updated", payment, event_id="evt-pay-1")
        self.send("payment.updated", payment, event_id="evt-pay-2")
        self.assertEqual(len(self.odoo_payments(move)), 1)
        # The payment state change goes to the outbox, but BILL is told nothing: it paid.
        self.env.cr.precommit.run()
        self.deliver()
        self.assertFalse(self.server.recorded_payments)
        self.assertFalse(self.exceptions("payment_conflict"))

    def test_payment_waits_for_the_odoo_bill_to_be_posted(self):
        staging = self.to_odoo_bill(self.bill(lines=[{"amount": "80.00", "chartOfAccountId": ACCOUNT_ID}]))
        payment = self.server.pay_bill(staging.document_id)
        self.send("payment.updated", payment)
        self.assertEqual(staging.bill_payment_ids.state, "pending")
        staging.move_id.with_user(self.ap_user_a).action_post()  # a person posts
        self.assertEqual(staging.bill_payment_ids.state, "registered")
        self.assertEqual(len(self.odoo_payments(staging.move_id)), 1)

    def test_crossing_payments_bill_event_first(self):
        staging = self.posted_bill("300.00")
        self.pay_in_odoo(staging.move_id)  # Odoo pays; its message to BILL is not delivered yet
        payment = self.server.pay_bill(staging.document_id)  # BILL pays at the same time
        self.send("payment.updated", payment)
        self.assertEqual(len(self.odoo_payments(staging.move_id)), 1, "no second payment in Odoo")
        self.assertEqual(staging.bill_payment_ids.state, "conflict")
        self.deliver()
        self.assertFalse(self.server.recorded_payments, "no payment recorded in BILL on top of BILL's")
        conflict = self.exceptions("payment_conflict")
        self.assertEqual(len(conflict), 1)
        self.assertEqual(conflict.severity, "high")
        self.assertTrue(staging.attention_required)

    def test_crossing_payments_odoo_delivery_first(self):
        staging = self.posted_bill("300.00")
        self.pay_in_odoo(staging.move_id)
        payment = self.server.pay_bill(staging.document_id)  # BILL paid; its event is still on the way
        self.deliver()
        self.assertFalse(self.server.recorded_payments)
        self.send("payment.updated", payment)
        self.assertEqual(len(self.odoo_payments(staging.move_id)), 1)
        self.assertEqual(len(self.exceptions("payment_conflict")), 1)
        self.assertEqual(len(self.server.payments), 1)

    def test_failed_payment_opens_an_exception_and_reverses_nothing(self):
        staging = self.posted_bill("120.00")
        payment = self.server.pay_bill(staging.document_id)
        self.send("payment.updated", payment)
        failed = make_payment(payment_id=payment["id"], bill_id=staging.document_id, amount="120.00",
                              status="FAILED", errors=[{"message": "Bank account closed"}])  # fmt: skip
        status, _answer = self.send("payment.failed", failed)
        self.assertEqual(status, 200)
        exception = self.exceptions("payment_failed")
        self.assertEqual(len(exception), 1)
        self.assertIn("Bank account closed", exception.description)
        self.assertEqual(len(self.odoo_payments(staging.move_id)), 1, "nothing reversed silently")
        self.assertIn(staging.move_id.payment_state, ("paid", "in_payment"))


@tagged("post_install", "-at_install")
class TestBillMasterData(BillCase):
    def test_vendor_changed_in_odoo_is_updated_in_bill(self):
        self.env["ap.sync.mapping"].create({
            "mapping_type": "vendor", "external_code": "00902BILKFECNEV2oji1", "partner_id": self.us_vendor.id,
            "company_id": self.company_a.id, "platform_id": self.bill_platform.id,
        })  # fmt: skip
        self.env.cr.precommit.run()
        self.us_vendor.write({"email": "billing@happymusic.example", "city": "Austin"})
        self.env.cr.precommit.run()
        self.deliver()
        updates = self.server.vendor_updates
        self.assertTrue(updates)
        self.assertEqual(updates[-1]["vendorId"], "00902BILKFECNEV2oji1")
        self.assertEqual(updates[-1]["body"]["email"], "billing@happymusic.example")
        self.assertEqual(updates[-1]["body"]["address"]["city"], "Austin")

    def test_ids_put_in_paths_are_quoted(self):
        rendered = self.bill_platform._render_outbound("vendor", {"name": "X"}, target="009/02 #1")
        self.assertEqual(rendered["path"], "/v3/vendors/009%2F02%20%231")

    def test_no_purchase_order_nor_lifecycle_calls_to_bill(self):
        Outbox = self.env["ap.sync.outbox"]
        for status in ("bill_created", "posted", "rejected", "reversed"):
            self.assertFalse(
                Outbox._enqueue_message(
                    self.bill_platform, "erp_status", {"status": status}, "00n1", "invoice:00n1"
                )
            )
        self.assertFalse(
            Outbox._enqueue_coalesced(
                self.bill_platform, "purchase_order", "PUT", "/purchase-orders/P1", {}, "po:P1"
            )
        )


@tagged("post_install", "-at_install")
class TestBillPlatform(BillCase):
    def test_backstop_runs_whatever_the_mode(self):
        platform = self.env["ap.platform"].create({
            "name": "BILL 2", "code": "bill_two", "provider": "bill", "company_id": self.company_a.id,
            "base_url": self.server.url, "api_login": self.server.username, "api_password": self.server.password,
            "api_key": self.server.dev_key, "bill_organization_id": self.server.organization_id,
            "webhook_secret": "any-security-key",
        })  # fmt: skip
        self.assertEqual(platform.mode, "both", "a BILL platform is pulled by default: the approval backstop")
        self.assertEqual(platform.bill_payment_journal_id.type, "bank", "BILL's payments need a journal")
        platform.mode = "webhook"
        self.bill()
        self.env["ap.platform"]._cron_pull()
        self.assertTrue(
            self.env["ap.invoice.staging"].search([("platform_id", "=", platform.id)]),
            "webhooks only, and still polled",
        )

    def test_test_connection_signs_in_and_lists(self):
        ok, message = self.bill_platform._test_connection()
        self.assertTrue(ok, message)
        self.assertEqual(len(self.server.logins), 1)
        self.bill_platform.api_password = "wrong"
        ap_platform_bill._sessions.clear()
        self.env["ap.platform.secret"]._set(self.bill_platform, "bill_session", None)
        ok, message = self.bill_platform._test_connection()
        self.assertFalse(ok)
        self.assertIn("BDC_1101", message)
        self.assertNotIn("wrong", message)

    def test_a_401_without_a_code_also_logs_in_again_once(self):
        self.bill()
        self.bill_platform._bill_get_session()
        self.server.fail_next(status=401, body={"error": "unauthorized"}, path_prefix="/v3/bills")
        self.assertFalse(self.bill_platform._pull_page())
        self.assertEqual(len(self.server.logins), 2)
        self.assertTrue(self.staging())
        # An invalid developer key is not cured by logging in: no loop of logins.
        self.server.fail_next(
            count=5, status=401, body=[{"code": "BDC_1102", "message": "Developer key is invalid."}]
        )
        self.bill_platform.pull_cursor = False
        self.assertFalse(self.bill_platform._pull_page())
        self.assertEqual(len(self.server.logins), 2)
