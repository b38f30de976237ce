import base64
import hashlib
import hmac
import json
import math
import time
from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from .common import OTHER_SECRET, WEBHOOK_SECRET, ApSyncCase, make_invoice, make_vendor, sign_headers

URL = "/ap_sync/webhook/test_a"


def envelope(event_type="invoice.approved", data=None):
    return {
        "type": event_type,
        "timestamp": "2026-11-02T10:15:00Z",
        "data": make_invoice() if data is None else data,
    }


def dumps(value):
    return json.dumps(value, separators=(",", ":")).encode()


@tagged("post_install", "-at_install")
class TestWebhook(ApSyncCase, HttpCase):
    """Every row of the contract's response table, through real HTTP."""

    def post(
        self, body, headers=None, url=URL, secret=WEBHOOK_SECRET, webhook_id=None, timestamp=None, sign=True
    ):
        if isinstance(body, dict | list | str) and not isinstance(body, bytes):
            body = dumps(body)
        all_headers = {"Content-Type": "application/json"}
        if sign:
            all_headers.update(sign_headers(secret, body, webhook_id=webhook_id, timestamp=timestamp))
        all_headers.update(headers or {})
        all_headers = {k: v for k, v in all_headers.items() if v is not None}
        response = self.opener.post(self.base_url() + url, data=body, headers=all_headers, timeout=30)
        try:
            payload = response.json()
        except ValueError:
            self.fail(f"not a JSON answer ({response.status_code}): {response.text[:300]}")
        return response.status_code, payload

    def logs(self):
        return self.env["ap.sync.log"].search([("endpoint", "=like", "/ap_sync/webhook/%")])

    def stagings(self):
        return self.env["ap.invoice.staging"].search([("platform_id", "=", self.platform.id)])

    # ------------------------------------------------------------------ 202 / 200
    def test_202_accepted_stores_everything(self):
        body = dumps(envelope())
        status, answer = self.post(body, webhook_id="msg_accept_1")
        self.assertEqual(status, 202, answer)
        self.assertEqual(answer["status"], "accepted")
        self.assertEqual(answer["event_id"], "msg_accept_1")
        staging = self.stagings()
        self.assertEqual(len(staging), 1)
        self.assertEqual(answer["reference"], staging.name)
        self.assertEqual(
            (staging.state, staging.document_id, staging.number, staging.currency_code),
            ("received", "inv_0001", "INV-0001", "EUR"),
        )
        self.assertEqual(len(staging.line_ids), 1)
        self.assertAlmostEqual(staging.amount_gross, 151.25)
        self.assertEqual(staging.approval_status, "approved")
        # Raw payload kept as received, with its sha256.
        self.assertEqual(staging.payload_attachment_id.raw, body)
        self.assertEqual(staging.payload_sha256, hashlib.sha256(body).hexdigest())
        event = staging.event_ids
        self.assertEqual(
            (event.webhook_id, event.state, event.source), ("msg_accept_1", "applied", "webhook")
        )
        log = self.logs()[:1]
        self.assertEqual((log.http_status, log.outcome, log.staging_id), (202, "success", staging))
        # Processing is triggered, not run inside the request.
        cron = self.env.ref("account_ap_sync.ir_cron_ap_sync_process")
        self.assertTrue(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]))

    def test_intake_works_in_the_platform_company(self):
        """A webhook of company B's platform: its event, payload attachment, staging record and
        sync-log entry all belong to company B, not to the superuser's company."""
        self.platform_b.webhook_secret = WEBHOOK_SECRET
        data = make_invoice(doc_id="inv_company_b", number="INV-B-1")
        status, answer = self.post(
            dumps(envelope(data=data)), url="/ap_sync/webhook/test_b", webhook_id="msg_company_b"
        )
        self.assertEqual(status, 202, answer)
        staging = self.env["ap.invoice.staging"].search([("platform_id", "=", self.platform_b.id)])
        self.assertEqual(len(staging), 1)
        log = self.env["ap.sync.log"].search([("endpoint", "=", "/ap_sync/webhook/test_b")])
        self.assertEqual(
            (staging.company_id, staging.event_ids.company_id, staging.payload_attachment_id.company_id,
             log.company_id, log.http_status),
            (self.company_b, self.company_b, self.company_b, self.company_b, 202),
        )  # fmt: skip
        self.assertNotEqual(self.env.company, self.company_b)

    def test_200_duplicate_webhook_id_replayed_later(self):
        body = dumps(envelope())
        self.assertEqual(self.post(body, webhook_id="msg_dup")[0], 202)
        # The platform redelivers the same message later: new timestamp, new signature, same id.
        status, answer = self.post(body, webhook_id="msg_dup", timestamp=int(time.time()) + 5)
        self.assertEqual(status, 200)
        self.assertEqual(answer["status"], "duplicate")
        self.assertEqual(answer["reference"], self.stagings().name)
        self.assertEqual(len(self.stagings()), 1)
        self.assertEqual(self.logs()[:1].outcome, "duplicate")

    def test_same_document_under_two_webhook_ids(self):
        same = envelope()  # the same document content (make_invoice stamps updated_at with the clock)
        self.assertEqual(self.post(same, webhook_id="msg_a")[0], 202)
        status, answer = self.post(same, webhook_id="msg_b")
        self.assertEqual(status, 202)
        staging = self.stagings()
        self.assertEqual(len(staging), 1)
        self.assertEqual(answer["reference"], staging.name)
        self.assertEqual(staging.event_ids.sorted("id").mapped("state"), ["applied", "unchanged"])

    def test_new_version_updates_until_billed(self):
        self.post(envelope(), webhook_id="msg_v1")
        staging = self.stagings()
        v2 = make_invoice(
            lines=[{"quantity": "20", "unit_price": "12.50"}, {"quantity": "1", "unit_price": "5.00"}]
        )
        v2["updated_at"] = "2099-01-01T00:00:00Z"
        self.assertEqual(self.post(envelope(data=v2), webhook_id="msg_v2")[0], 202)
        self.assertEqual(len(staging.line_ids), 2)
        self.assertEqual(staging.event_id, "msg_v2")
        # Once a bill exists, a new version is kept and flagged, the staging record untouched.
        bill = self.env["account.move"].create(
            {"move_type": "in_invoice", "partner_id": self.manager.partner_id.id}
        )
        staging.sudo().with_context(ap_sync_state_checked=True).write(
            {"move_id": bill.id, "state": "bill_created"}
        )
        v3 = dict(v2, number="INV-CHANGED", updated_at="2099-02-01T00:00:00Z")
        self.assertEqual(self.post(envelope(data=v3), webhook_id="msg_v3")[0], 202)
        self.assertEqual(staging.number, "INV-0001")
        self.assertTrue(staging.attention_required)
        self.assertIn("msg_v3", staging.attention_reason)
        self.assertEqual(staging.event_ids.filtered(lambda e: e.webhook_id == "msg_v3").state, "flagged")

    def test_older_version_is_stale(self):
        v1 = make_invoice()
        v1["updated_at"] = "2026-11-02T10:00:00Z"
        self.post(envelope(data=v1), webhook_id="msg_new")
        old = make_invoice(number="INV-OLD")
        old["updated_at"] = "2026-11-01T10:00:00Z"
        self.assertEqual(self.post(envelope(data=old), webhook_id="msg_old")[0], 202)
        self.assertEqual(self.stagings().number, "INV-0001")

    def test_rejected_and_voided(self):
        self.post(envelope(data=make_invoice(doc_id="inv_r")), webhook_id="m1")
        self.post(envelope(data=make_invoice(doc_id="inv_v", number="INV-V")), webhook_id="m2")
        status, _answer = self.post(
            envelope("invoice.rejected", {"id": "inv_r", "reason": "wrong PO"}), webhook_id="m3"
        )
        self.assertEqual(status, 202)
        staging_r = self.stagings().filtered(lambda s: s.document_id == "inv_r")
        self.assertEqual(staging_r.state, "cancelled")
        self.assertIn("wrong PO", staging_r.state_reason)
        # With a bill: untouched, flagged.
        staging_v = self.stagings().filtered(lambda s: s.document_id == "inv_v")
        bill = self.env["account.move"].create(
            {"move_type": "in_invoice", "partner_id": self.manager.partner_id.id}
        )
        staging_v.sudo().with_context(ap_sync_state_checked=True).write(
            {"move_id": bill.id, "state": "bill_created"}
        )
        self.assertEqual(self.post(envelope("invoice.voided", {"id": "inv_v"}), webhook_id="m4")[0], 202)
        self.assertEqual(staging_v.state, "bill_created")
        self.assertTrue(staging_v.attention_required)
        # Unknown document: accepted and kept, nothing to cancel.
        self.assertEqual(self.post(envelope("invoice.voided", {"id": "nope"}), webhook_id="m5")[0], 202)
        self.assertEqual(self.env["ap.sync.event"].search([("webhook_id", "=", "m5")]).state, "ignored")

    def test_vendor_events_are_kept(self):
        status, answer = self.post(envelope("vendor.onboarding_requested", make_vendor()), webhook_id="mv1")
        self.assertEqual(status, 202, answer)
        event = self.env["ap.sync.event"].search([("webhook_id", "=", "mv1")])
        self.assertEqual((event.document_id, event.state), ("V-100", "applied"))
        request = self.env["ap.vendor.request"].search([("external_id", "=", "V-100")])
        self.assertEqual((request.state, request.event_id), ("to_review", event))

    def test_ping_changes_nothing(self):
        events_before = self.env["ap.sync.event"].search_count([])
        status, answer = self.post(envelope("ping", {"hello": "world"}), webhook_id="mping")
        self.assertEqual((status, answer["status"]), (200, "ok"))
        self.assertEqual(self.env["ap.sync.event"].search_count([]), events_before)
        self.assertEqual(self.logs()[:1].http_status, 200)

    # ------------------------------------------------------------------ 400
    def test_400_invalid_json(self):
        for body in (b"", b"{not json", b'{"type": "ping", "data": ', "caf\xe9".encode("latin-1")):
            status, answer = self.post(body)
            self.assertEqual((status, answer["error"]), (400, "invalid_json"), body)
            self.assertTrue(answer["detail"])

    def test_400_invalid_envelope(self):
        for value in ("just a string", [1, 2], {"data": {}}, {"type": "ping"}, {"type": 5, "data": {}}):
            status, answer = self.post(value)
            self.assertEqual((status, answer["error"]), (400, "invalid_envelope"), value)
        # The refused body is kept with its log entry.
        log = self.logs()[:1]
        self.assertEqual(log.outcome, "rejected")
        self.assertTrue(log.body_attachment_id)

    # ------------------------------------------------------------------ 401
    def test_401_bad_signatures(self):
        body = dumps(envelope())
        good = sign_headers(WEBHOOK_SECRET, body)
        signature = good["webhook-signature"].split(",", 1)[1]
        cases = {
            "missing": {"webhook-signature": None},
            "empty": {"webhook-signature": ""},
            "malformed": {"webhook-signature": "garbage"},
            "wrong scheme": {"webhook-signature": f"v0,{signature}"},
            "bad base64": {"webhook-signature": "v1,@@@"},
            "other secret": sign_headers(OTHER_SECRET, body, webhook_id=good["webhook-id"]),
            "re-serialized body": sign_headers(
                WEBHOOK_SECRET, json.dumps(json.loads(body), indent=2).encode()
            ),
            "missing id": {"webhook-id": None},
        }
        for name, override in cases.items():
            headers = dict(good, **override)
            status, answer = self.post(body, headers=headers, sign=False)
            self.assertEqual((status, answer["error"]), (401, "invalid_signature"), name)
        self.assertFalse(self.stagings())

    def test_401_several_signatures_one_valid(self):
        body = dumps(envelope())
        headers = sign_headers(WEBHOOK_SECRET, body)
        headers["webhook-signature"] = "v1,AAAA v1,bm90IGl0 " + headers["webhook-signature"]
        self.assertEqual(self.post(body, headers=headers, sign=False)[0], 202)

    def test_401_timestamps(self):
        body = dumps(envelope())
        secret = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
        # Each timestamp is taken just before its request, rounded away from the tolerance: int() of the
        # clock would make "301 s in the future" up to a second closer, and a loaded machine adds more.
        for name, offset in {
            "301 s old": lambda: math.floor(time.time()) - 301,
            "301 s in the future": lambda: math.ceil(time.time()) + 301,
            "milliseconds": lambda: int(time.time() * 1000),
        }.items():
            ts = offset()
            # Signed correctly for that timestamp: only the timestamp is wrong.
            mac = hmac.new(secret, f"msg_ts.{ts}.".encode() + body, hashlib.sha256).digest()
            headers = {
                "webhook-id": "msg_ts",
                "webhook-timestamp": str(ts),
                "webhook-signature": "v1," + base64.b64encode(mac).decode(),
            }
            status, answer = self.post(body, headers=headers, sign=False)
            self.assertEqual((status, answer["error"]), (401, "invalid_timestamp"), name)
        for value in ("yesterday", "", None, "1.5e9"):
            headers = sign_headers(WEBHOOK_SECRET, body)
            headers["webhook-timestamp"] = value
            status, answer = self.post(body, headers=headers, sign=False)
            self.assertEqual((status, answer["error"]), (401, "invalid_timestamp"), value)
        # 290 s old is within tolerance.
        self.assertEqual(self.post(body, timestamp=int(time.time()) - 290)[0], 202)

    def test_previous_secret_during_and_after_rotation(self):
        self.platform._rotate_webhook_secret(OTHER_SECRET, grace_hours=1)
        self.assertEqual(self.post(envelope(), secret=OTHER_SECRET, webhook_id="new")[0], 202)
        self.assertEqual(self.post(envelope(), secret=WEBHOOK_SECRET, webhook_id="old")[0], 202)
        self.platform.sudo().webhook_secret_previous_expiry = fields.Datetime.now() - timedelta(seconds=5)
        status, answer = self.post(envelope(), secret=WEBHOOK_SECRET, webhook_id="old2")
        self.assertEqual((status, answer["error"]), (401, "invalid_signature"))

    # ------------------------------------------------------------------ 404 / 405 / 413 / 415
    def test_404_unknown_or_archived_platform(self):
        status, answer = self.post(envelope(), url="/ap_sync/webhook/nope")
        self.assertEqual((status, answer), (404, {"error": "unknown_platform"}))
        self.platform.active = False
        status, answer = self.post(envelope())
        self.assertEqual((status, answer["error"]), (404, "unknown_platform"))
        self.assertFalse(self.stagings())
        self.assertEqual(self.logs()[:1].http_status, 404)

    def test_413_payload_too_large(self):
        self.platform.max_payload_size = 2000
        body = dumps(envelope())
        body = body[:-1] + b" " * (2001 - len(body)) + b"}"
        self.assertEqual(len(body), 2001)
        status, answer = self.post(body)
        self.assertEqual((status, answer), (413, {"error": "payload_too_large", "limit": 2000}))
        at_limit = body[:-2] + b"}"
        self.assertEqual(self.post(at_limit)[0], 202)

    def test_415_wrong_content_type(self):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            status, answer = self.post(envelope(), headers={"Content-Type": content_type})
            self.assertEqual((status, answer["error"]), (415, "unsupported_media_type"), content_type)

    def test_405_is_json(self):
        response = self.url_open(URL, head=False)
        self.assertEqual(response.status_code, 405)
        self.assertEqual(response.json()["error"], "method_not_allowed")

    # ------------------------------------------------------------------ 422
    def test_422_a_value_the_models_refuse_stores_nothing_and_keeps_the_body(self):
        """A value that passed the schema but that the models' input rules refuse (here one a mapping
        produced): 422 naming it, no event, attachment or staging record, and the body kept with the
        refusal's sync-log entry."""
        Staging = type(self.env["ap.invoice.staging"])
        prepare = Staging._prepare_from_document

        def prepare_with_a_nul(model, data):
            return dict(prepare(model, data), supplier_name="Acme\x00Supplies")

        attachments = self.env["ir.attachment"].search_count([("res_model", "=", "ap.sync.event")])
        body = dumps(envelope())
        with patch.object(Staging, "_prepare_from_document", prepare_with_a_nul):
            status, answer = self.post(body, webhook_id="msg_model_refusal")
        self.assertEqual((status, answer["error"]), (422, "schema_violation"))
        self.assertIn("NUL", answer["errors"][0]["message"])
        self.assertFalse(self.stagings())
        self.assertFalse(self.env["ap.sync.event"].search([("webhook_id", "=", "msg_model_refusal")]))
        self.assertEqual(
            self.env["ir.attachment"].search_count([("res_model", "=", "ap.sync.event")]), attachments
        )
        log = self.logs()[:1]
        self.assertEqual((log.http_status, log.outcome, log.event_id), (422, "rejected", "msg_model_refusal"))
        self.assertEqual(
            json.loads(log.body_attachment_id.raw), json.loads(body), "the refused payload is kept"
        )
        # Sent again once the mapping is right, the same message is accepted: nothing of it was left.
        status, answer = self.post(body, webhook_id="msg_model_refusal")
        self.assertEqual((status, answer["status"]), (202, "accepted"))

    def test_422_schema_violations(self):
        cases = {
            "/number": lambda d: d.pop("number"),
            "/issue_date": lambda d: d.pop("issue_date"),
            "/currency": lambda d: d.pop("currency"),
            "/supplier": lambda d: d.pop("supplier"),
            "/lines": lambda d: d.pop("lines"),
            "/lines/0/quantity": lambda d: d["lines"][0].update(quantity=10.0),
            "/totals/net": lambda d: d["totals"].update(net=125.0),
            "/schema_version": lambda d: d.update(schema_version="9.9"),
        }
        for path, mutate in cases.items():
            data = make_invoice()
            mutate(data)
            status, answer = self.post(envelope(data=data))
            self.assertEqual((status, answer["error"]), (422, "schema_violation"), path)
            self.assertIn(path, [error["path"] for error in answer["errors"]], answer)
        status, answer = self.post(envelope("invoice.exploded", {}))
        self.assertEqual((status, answer["errors"][0]["path"]), (422, "/type"))
        self.assertFalse(self.stagings())
        log = self.logs()[:1]
        self.assertEqual((log.http_status, log.outcome), (422, "rejected"))
        self.assertTrue(log.body_attachment_id, "the refused payload is kept")

    def test_unknown_fields_are_ignored(self):
        data = make_invoice()
        data["future_field"] = {"x": 1}
        data["lines"][0]["color"] = "blue"
        self.assertEqual(self.post(envelope(data=data))[0], 202)

    # ------------------------------------------------------------------ sync log
    def test_every_request_logged_without_secrets(self):
        before = len(self.logs())
        body = dumps(envelope())
        headers = sign_headers(WEBHOOK_SECRET, body)
        self.post(body, headers=headers, sign=False)
        self.post(b"{bad", headers=sign_headers(WEBHOOK_SECRET, b"{bad"), sign=False)
        self.post(
            body,
            sign=False,
            headers={
                "webhook-signature": "v1,xyz",
                "webhook-id": "a",
                "webhook-timestamp": str(int(time.time())),
            },
        )
        logs = self.logs()
        self.assertEqual(len(logs), before + 3)
        signature = headers["webhook-signature"].split(",", 1)[1]
        secret_bits = (WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_"), signature)
        dump = json.dumps(logs.read(), default=str)
        attachments = b"".join((logs.body_attachment_id | logs.response_attachment_id).mapped("raw"))
        for bit in secret_bits:
            self.assertNotIn(bit, dump)
            self.assertNotIn(bit.encode(), attachments)


@tagged("post_install", "-at_install")
class TestProcessing(ApSyncCase):
    """The processing cron skeleton: claims received records, checks contract section 3 arithmetic."""

    def stage(self, data, webhook_id=None):
        envelope_ = {"type": "invoice.approved", "data": data}
        raw = dumps(envelope_)
        status, _body, event = self.env["ap.sync.event"]._store(
            self.platform, webhook_id or f"m-{data['id']}", envelope_, raw
        )
        self.assertEqual(status, 202)
        return event.staging_id

    def assertValidated(self, staging):
        """The arithmetic step passed: processing went on to the steps after it, and a stop is theirs."""
        steps = [name for name, _method, _state in staging._get_processing_steps()]
        self.assertIn(
            staging.state, ("validated", "matched", "bill_created", "exception"), staging.exception_reason
        )
        if staging.state == "exception":
            self.assertGreater(
                steps.index(staging.processing_step), steps.index("validate"), staging.exception_reason
            )
            self.assertNotEqual(staging.exception_type, "arithmetic", staging.exception_reason)
        self.assertFalse(self.queue_items(staging, "arithmetic"), "no arithmetic item in the queue")
        self.assertIsNone(staging._step_validate())

    def queue_items(self, staging, kind):
        return self.env["ap.sync.exception"].search(
            [("staging_id", "=", staging.id), ("exception_type", "=", kind)]
        )

    def test_arithmetic_ok_validates(self):
        lines = [{"quantity": "3", "unit_price": "9.99"}, {"quantity": "1", "unit_price": "0.03"}]
        # A supplier no partner matches: the record can only stop at the vendor step, after validate,
        # whatever else the database holds (currencies, taxes).
        nobody = {"external_id": "V-ARITH-NOBODY", "name": "Arithmetic Nobody Supplies 7f3c"}
        staging = self.stage(make_invoice(lines=lines, supplier=nobody))
        # The same invoice with one line amount off by a cent: the arithmetic step stops it.
        wrong = make_invoice(doc_id="inv_off_by_a_cent", lines=lines, supplier=nobody)
        wrong["lines"][0]["net_amount"] = str(Decimal(wrong["lines"][0]["net_amount"]) + Decimal("0.01"))
        wrong_staging = self.stage(wrong)
        self.env["ap.invoice.staging"]._cron_process()
        self.assertValidated(staging)
        # It went past validate and stopped at the vendor step, for the vendor: a later step's reason,
        # not the arithmetic's.
        self.assertEqual(
            (staging.state, staging.processing_step, staging.exception_type),
            ("exception", "match_vendor", "unknown_vendor"),
            staging.exception_reason,
        )
        self.assertIn("Arithmetic Nobody Supplies 7f3c", staging.exception_reason)
        self.assertEqual(self.queue_items(staging, "unknown_vendor").state, "open")
        self.assertEqual(
            (wrong_staging.state, wrong_staging.processing_step, wrong_staging.exception_type),
            ("exception", "validate", "arithmetic"),
            wrong_staging.exception_reason,
        )
        self.assertTrue(self.queue_items(wrong_staging, "arithmetic"))

    def test_arithmetic_failures_flag_with_numbers(self):
        bad_sum = make_invoice(doc_id="inv_sum")
        bad_sum["totals"]["net"] = "130.00"
        bad_tax = make_invoice(doc_id="inv_tax")
        bad_tax["tax_breakdown"][0]["tax_amount"] = "20.00"
        bad_gross = make_invoice(doc_id="inv_gross")
        bad_gross["totals"]["gross"] = "150.00"
        bad_line = make_invoice(doc_id="inv_line")
        bad_line["lines"][0]["net_amount"] = "126.00"
        bad_due = make_invoice(doc_id="inv_due", due_date="2026-10-01")
        stagings = {
            key: self.stage(data)
            for key, data in {
                "sum": bad_sum,
                "tax": bad_tax,
                "gross": bad_gross,
                "line": bad_line,
                "due": bad_due,
            }.items()
        }
        self.env["ap.invoice.staging"]._cron_process()
        for key, staging in stagings.items():
            self.assertEqual(staging.state, "exception", key)
            self.assertEqual(staging.processing_step, "validate")
        self.assertIn("130.00", stagings["sum"].exception_reason)
        self.assertIn("26.25", stagings["tax"].exception_reason)
        self.assertIn("gross", stagings["gross"].exception_reason)
        self.assertIn("Line 1", stagings["line"].exception_reason)
        self.assertIn("due date", stagings["due"].exception_reason)

    def test_rounding_of_currency_decimals(self):
        jpy = self.env.ref("base.JPY")
        jpy.active = True
        data = make_invoice(doc_id="inv_jpy", currency="JPY", lines=[{"quantity": "3", "unit_price": "333"}])
        staging = self.stage(data)
        self.env["ap.invoice.staging"]._cron_process()
        self.assertValidated(staging)
        kwd = make_invoice(doc_id="inv_kwd", currency="KWD", lines=[{"quantity": "1", "unit_price": "1.234"}])
        staging = self.stage(kwd)
        self.env["ap.invoice.staging"]._cron_process()
        self.assertValidated(staging)

    def test_state_map_refuses_backwards_moves(self):
        staging = self.stage(make_invoice(doc_id="inv_map"))
        Staging = self.env["ap.invoice.staging"]
        states = [state for state, _label in Staging._fields["state"].selection]
        transitions = Staging._get_state_transitions()
        self.assertEqual(set(transitions), set(states), "the map names every state")
        # Backwards, whatever the map says elsewhere: a billed document never goes back before its bill,
        # a cancelled one goes nowhere.
        before_the_bill = {"received", "validated", "matched", "exception", "rejected", "duplicate",
                           "out_of_scope", "shadow"}  # fmt: skip
        for billed in ("bill_created", "posted", "paid"):
            self.assertFalse(transitions[billed] & before_the_bill, billed)
        self.assertEqual(transitions["cancelled"], set())
        forbidden = [
            (old, new) for old in states for new in states if new != old and new not in transitions[old]
        ]
        self.assertGreater(len(forbidden), 80)
        checked = staging.sudo().with_context(ap_sync_state_checked=True)
        for old, new in forbidden:
            with self.subTest(old=old, new=new):
                checked.write({"state": old})
                with self.assertRaisesRegex(UserError, "cannot go from"):
                    staging._set_state(new)
                self.assertEqual(staging.state, old)
                with self.assertRaisesRegex(UserError, "cannot go from"):
                    staging.sudo().write({"state": new})  # a write goes through the state map too
                self.assertEqual(staging.state, old)
        # The allowed moves pass the same check (the refusals above are the map's, not a blanket one).
        for old in states:
            for new in transitions[old]:
                staging._check_transition(old, new)
