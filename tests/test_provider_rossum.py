"""The Rossum provider against the fake Rossum (tools/rossum_server.py), through real HTTP.

Fixtures follow the Rossum API reference (https://rossum.app/api/docs/): annotations and their
content tree per "Annotation" / "Annotation content", hook bodies per "Webhook events"
(annotation_content/export, annotation_status/changed), signatures per "Validating payloads from
Rossum", the login per "Authentication", exports per "Export annotations".
"""

import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import urlsplit

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import TOOLS_DIR, CapturedLogs
from .test_processing_bill import BillPipelineCase

assert str(TOOLS_DIR)  # common.py puts tools/ on sys.path
from rossum_server import RossumServer, hook_payload, make_annotation, sign  # noqa: E402

HOOK_SECRET = "rossum-hook-secret-7d1f"  # a Rossum hook's config.secret: any string
LOGIN, PASSWORD = "api_user@acme-test", "Rossum-pass-93be2c"
QUEUE = 8236
VENDOR_VAT = "NL818152011B01"  # unique in the test database (the demo vendor has the fixtures' default)


def fixture(annotation_id, **kwargs):
    kwargs.setdefault("sender_vat_id", VENDOR_VAT)
    return make_annotation(annotation_id, **kwargs)


@tagged("post_install", "-at_install")
class TestRossumProvider(BillPipelineCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rossum = RossumServer(username=LOGIN, password=PASSWORD).start()
        cls.addClassCleanup(cls.rossum.stop)
        cls.rossum.add_queue(QUEUE, "Invoices EU")
        cls.rossum.add_queue(9000, "Other queue")
        # Created the way the black-box run does it: the field names of issue 12.
        cls.rplatform = cls.env["ap.platform"].create({
            "name": "Rossum Acme", "code": "rossum_acme", "company_id": cls.company_a.id,
            "provider": "rossum", "base_url": cls.rossum.url, "api_login": LOGIN, "api_password": PASSWORD,
            "rossum_queue_ids": f"{QUEUE}", "webhook_secret": HOOK_SECRET,
        })  # fmt: skip
        # The vendor of the fixtures is found by its VAT number.
        cls.acme = cls.env["res.partner"].create(
            {"name": "Acme Rossum Test B.V.", "is_company": True, "vat": VENDOR_VAT}
        )

    def setUp(self):
        super().setUp()
        self.rossum.annotations.clear()
        self.rossum.requests_log.clear()
        self.rossum.expire_tokens()
        self.rossum._faults.clear()
        self.rossum.logins = 0
        self.env.cr.cache.pop("account_ap_sync.rossum_tokens", None)

    # ------------------------------------------------------------------ helpers
    def post_hook(self, body, headers):
        response = self.opener.post(
            self.base_url() + "/ap_sync/webhook/rossum_acme", data=body, headers=headers, timeout=30
        )
        return response.status_code, response.json(), response.headers

    def hook(self, event, action, annotation, secret=HOOK_SECRET, **kwargs):
        self.rossum.add_annotation(annotation)
        body, headers = self.rossum.hook_request(event, action, annotation["id"], secret, **kwargs)
        return body, headers

    def stagings(self):
        return self.env["ap.invoice.staging"].search([("platform_id", "=", self.rplatform.id)])

    def events(self):
        return self.env["ap.sync.event"].search([("platform_id", "=", self.rplatform.id)])

    def poll(self, location):
        parts = urlsplit(location)
        response = self.opener.get(self.base_url() + parts.path + "?" + parts.query, timeout=30)
        return response.status_code, response.json(), response.headers

    def deliver(self):
        Outbox = self.env["ap.sync.outbox"]
        Outbox.search([("platform_id", "=", self.rplatform.id), ("state", "=", "pending")]).sudo().write(
            {"next_attempt_at": False}
        )
        Outbox._cron_deliver()

    # ------------------------------------------------------------------ signatures
    def test_bad_signatures_get_401_and_store_nothing(self):
        annotation = fixture(314001)
        body, headers = self.hook("annotation_content", "export", annotation)
        digest = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        sha1 = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha1).hexdigest()
        cases = {
            "missing": ({}, body),
            "malformed": ({"X-Rossum-Signature-SHA256": "sha256=not-hex"}, body),
            "malformed, short": ({"X-Rossum-Signature-SHA256": "sha256=" + digest[:40]}, body),
            "sha1 in the sha256 header": ({"X-Rossum-Signature-SHA256": "sha1=" + sha1}, body),
            "sha1 only (X-Elis-Signature)": ({"X-Elis-Signature": "sha1=" + sha1}, body),
            "wrong secret": ({"X-Rossum-Signature-SHA256": sign("another-secret", body)}, body),
            "body changed after signing": (
                {"X-Rossum-Signature-SHA256": headers["X-Rossum-Signature-SHA256"]},
                body.replace(b"INV-2026-001", b"INV-2026-999"),
            ),
        }
        for name, (signature, sent) in cases.items():
            status, answer, _headers = self.post_hook(sent, {"Content-Type": "application/json", **signature})
            self.assertEqual((status, answer.get("error")), (401, "invalid_signature"), name)
            self.assertEqual(answer["messages"][0]["type"], "error", name)
        self.assertFalse(self.events(), "nothing stored")
        self.assertFalse(self.stagings())
        logs = self.env["ap.sync.log"].search(
            [("platform_id", "=", self.rplatform.id), ("http_status", "=", 401)]
        )
        self.assertEqual(len(logs), len(cases), "each refusal is logged")
        self.assertFalse(logs.body_attachment_id, "an unauthenticated body is not kept")
        status, _answer, _headers = self.post_hook(body, headers)
        self.assertEqual(status, 202, "the genuine call is accepted")

    # ------------------------------------------------------------------ export hook, async answer
    def test_export_hook_answers_async_until_the_bill_exists(self):
        annotation = fixture(314002, document_id="INV-R-1002", date_issue="2026-11-04",
                                     lines=[{"description": "Paper", "quantity": "40", "unit_price": "25.00"}])  # fmt: skip
        body, headers = self.hook("annotation_content", "export", annotation, request_id="req-1002")
        status, answer, answer_headers = self.post_hook(body, headers)
        self.assertEqual(status, 202, answer)
        self.assertEqual(answer["messages"], [])
        location = answer_headers["Location"]
        self.assertIn("/ap_sync/webhook/rossum_acme/rossum-result/", location)
        # Rossum retries the call (same request_id, same body): nothing new is created.
        status, again, again_headers = self.post_hook(body, headers)
        self.assertEqual((status, again_headers["Location"]), (202, location))
        self.assertEqual((len(self.events()), len(self.stagings())), (1, 1))
        staging = self.stagings()
        # Values: the normalized ones ("1000.00"), not the locale-formatted text ("1 000,00").
        self.assertEqual(
            (staging.number, staging.currency_code, staging.document_id), ("INV-R-1002", "EUR", "314002")
        )
        self.assertAlmostEqual(staging.amount_gross, 1210.0)
        status, polled, poll_headers = self.poll(location)
        self.assertEqual((status, polled["status"]), (202, "pending"))
        self.assertEqual(poll_headers["Retry-After"], "5")
        staging._process()
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        bill = staging.move_id
        self.assertEqual(bill.partner_id, self.acme, "vendor found by VAT")
        self.assertEqual(bill.ref, "INV-R-1002", "ref = document_id")
        self.assertEqual(str(bill.invoice_date), "2026-11-04")
        self.assertEqual((bill.amount_untaxed, bill.amount_tax, bill.amount_total), (1000.0, 210.0, 1210.0))
        status, polled, _headers = self.poll(location)
        self.assertEqual(status, 200)
        self.assertEqual(polled["messages"][0]["type"], "info")
        self.assertIn(bill.name or bill.display_name, polled["messages"][0]["content"])
        # A poll without the right token is refused.
        bad = self.opener.get(self.base_url() + urlsplit(location).path + "?token=forged", timeout=30)
        self.assertEqual(bad.status_code, 401)
        # The bill exists: the annotation is also marked exported through the API (authenticated).
        self.deliver()
        patch = self.rossum.calls("PATCH", f"/api/v1/annotations/{annotation['id']}")
        self.assertEqual(patch[-1]["body"]["status"], "exported")
        self.assertEqual(patch[-1]["authorization"], "Bearer")
        self.assertEqual(self.rossum.calls("POST", "/api/v1/auth/login")[0]["body"], {"username": LOGIN})
        self.assertEqual(self.rossum.annotations[314002]["status"], "exported")

    def test_totals_that_do_not_tie_become_an_exception_and_rossum_is_told(self):
        annotation = fixture(314003, document_id="INV-R-1003", amount_total="130.00")
        body, headers = self.hook("annotation_content", "export", annotation)
        status, answer, answer_headers = self.post_hook(body, headers)
        self.assertEqual(status, 202, answer)
        staging = self.stagings()
        staging._process()
        self.assertEqual(
            (staging.state, staging.exception_type), ("exception", "arithmetic"), staging.exception_reason
        )
        status, polled, _headers = self.poll(answer_headers["Location"])
        self.assertEqual((status, polled["messages"][0]["type"]), (200, "error"))
        self.assertIn("totals.gross is 130.00", polled["messages"][0]["content"])
        self.assertTrue(self.env["ap.sync.exception"].search([("staging_id", "=", staging.id)]))

    def test_schema_refusal_answers_an_error_message_naming_the_datapoint(self):
        for schema_id in ("document_id", "date_issue", "amount_total"):
            annotation = fixture(314010 + len(schema_id), omit=(schema_id,))
            body, headers = self.hook("annotation_content", "export", annotation)
            status, answer, _headers = self.post_hook(body, headers)
            self.assertLess(status, 500)
            self.assertEqual(status, 200, answer)
            self.assertEqual(answer["messages"][0]["type"], "error")
            self.assertIn(schema_id, answer["messages"][0]["content"])
        vendorless = fixture(314030, omit=("sender_name", "sender_vat_id"))
        body, headers = self.hook("annotation_content", "export", vendorless)
        status, answer, _headers = self.post_hook(body, headers)
        self.assertIn("sender_name or sender_vat_id", answer["messages"][0]["content"])
        self.assertFalse(self.stagings(), "refused at the door: nothing staged")
        refused = self.env["ap.sync.log"].search(
            [("platform_id", "=", self.rplatform.id), ("http_status", "=", 422)], limit=1
        )
        self.assertTrue(refused.body_attachment_id, "the raw payload is kept with the refusal")

    def test_locale_formatted_values_without_normalized_value(self):
        annotation = fixture(314040, lines=[{"quantity": "2", "unit_price": "500.00"}])
        for section in annotation["content"]:
            for node in section["children"]:
                nodes = [node] if node["category"] == "datapoint" else [
                    dp for row in node.get("children", []) for dp in row["children"]]  # fmt: skip
                for dp in nodes:
                    dp["content"]["normalized_value"] = ""  # only the text as printed: "1 210,00"
        body, headers = self.hook("annotation_content", "export", annotation)
        self.assertEqual(self.post_hook(body, headers)[0], 202)
        staging = self.stagings()
        self.assertEqual(
            staging.document_json["totals"], {"net": "1000.00", "tax": "210.00", "gross": "1210.00"}
        )
        self.assertEqual(staging.document_json["lines"][0]["unit_price"], "500.00")
        from odoo.addons.account_ap_sync.models.ap_platform_rossum import parse_amount, parse_date

        for text, expected in {"1 210,00": "1210.00", "1.210,00": "1210.00", "1,210.00": "1210.00",
                               "1210": "1210", "0,5": "0.5", "(12,50)": "-12.50", "12,50-": "-12.50",
                               "€ 99,90": "99.90", "1 000 000,01": "1000000.01", "21 %": "21"}.items():  # fmt: skip
            self.assertEqual(parse_amount(text), expected, text)
        self.assertEqual(parse_amount("n/a"), "n/a", "not a number: left for the schema to name")
        self.assertEqual(parse_date("04.11.2026"), "2026-11-04")

    def test_update_before_billing_and_status_event_without_content(self):
        annotation = fixture(314050, document_id="INV-R-1050")
        self.rossum.add_annotation(annotation)
        body, headers = self.rossum.hook_request(
            "annotation_status",
            "changed",
            314050,
            HOOK_SECRET,
            previous_status="reviewing",
            with_content=False,
        )
        status, answer, _headers = self.post_hook(body, headers)
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["messages"][0]["type"], "info")
        self.assertTrue(
            self.rossum.calls("GET", "/api/v1/annotations/314050/content"), "content read through the API"
        )
        staging = self.stagings()
        self.assertAlmostEqual(staging.amount_gross, 151.25)
        changed = fixture(314050, document_id="INV-R-1050",
                                  lines=[{"quantity": "20", "unit_price": "12.50"}])  # fmt: skip
        body, headers = self.hook("annotation_content", "export", changed)
        self.assertEqual(self.post_hook(body, headers)[0], 202)
        self.assertEqual(len(self.stagings()), 1)
        self.assertAlmostEqual(staging.amount_gross, 302.5, msg="updated while no bill exists")
        staging._process()
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)

    def test_other_events_are_ignored_with_2xx(self):
        annotation = fixture(314060, status="to_review")
        for event, action, kwargs in (
            ("annotation_status", "changed", {"status": "to_review"}),
            ("annotation_content", "initialize", {}),
            ("email", "received", {}),
        ):
            body, headers = self.hook(event, action, annotation, **kwargs)
            status, answer, _headers = self.post_hook(body, headers)
            self.assertEqual((status, answer["messages"]), (200, []), event)
        other_queue = fixture(314061, queue_id=9000)
        body, headers = self.hook("annotation_content", "export", other_queue)
        self.assertEqual(self.post_hook(body, headers)[0], 200)
        self.assertFalse(self.events() or self.stagings())
        self.assertEqual(
            self.env["ap.sync.log"].search_count([("platform_id", "=", self.rplatform.id), ("http_status", "=", 200)]),
            4, "each ignored call is logged",
        )  # fmt: skip

    # ------------------------------------------------------------------ write-back, reject, auth
    def test_ids_put_in_paths_are_quoted(self):
        render = self.rplatform._render_outbound
        self.assertEqual(
            render("erp_status", {"status": "posted"}, target="31/4")["path"], "/v1/annotations/31%2F4"
        )
        self.assertEqual(
            render("erp_status", {"status": "rejected"}, target="31?4")["path"],
            "/v1/annotations/31%3F4/reject",
        )

    def test_reject_to_platform_and_payment_metadata(self):
        annotation = fixture(314070, document_id="INV-R-1070", sender_vat_id="XX000", sender_name="Nobody")
        body, headers = self.hook("annotation_content", "export", annotation)
        self.post_hook(body, headers)
        staging = self.stagings()
        staging._process()
        self.assertEqual(staging.exception_type, "unknown_vendor")
        staging.action_reject_to_platform("Not our supplier")
        self.deliver()
        reject = self.rossum.calls("POST", "/api/v1/annotations/314070/reject")
        self.assertEqual(reject[0]["body"], {"note_content": "Not our supplier"})
        self.assertEqual(self.rossum.annotations[314070]["status"], "rejected")
        # Vendors and POs have no place in Rossum: nothing is queued for them.
        self.env["ap.sync.mapping"].create(
            {
                "mapping_type": "vendor",
                "external_code": "R-V1",
                "partner_id": self.acme.id,
                "platform_id": self.rplatform.id,
            }
        )
        self.env.flush_all()
        self.env.cr.precommit.run()
        kinds = self.env["ap.sync.outbox"].search([("platform_id", "=", self.rplatform.id)]).mapped("kind")
        self.assertEqual(kinds, ["erp_status"])

    def test_token_expiry_logs_in_again_once(self):
        annotation = fixture(314080, document_id="INV-R-1080")
        body, headers = self.hook("annotation_content", "export", annotation)
        self.post_hook(body, headers)
        staging = self.stagings()
        with CapturedLogs() as logs:
            staging._process()  # re-verifies the approval: logs in
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        self.assertEqual(self.rossum.logins, 1)
        self.rossum.expire_tokens()  # the token expired on Rossum's side
        self.deliver()
        self.assertEqual(self.rossum.logins, 2, "logged in again once after the 401")
        self.assertEqual(self.rossum.annotations[314080]["status"], "exported")
        statuses = [
            entry for entry in self.rossum.requests_log if entry["path"] == "/api/v1/annotations/314080"
        ]
        self.assertEqual(statuses[-1]["method"], "PATCH")
        self.assertNotIn(PASSWORD, logs.text)
        synclog = self.env["ap.sync.log"].search([("platform_id", "=", self.rplatform.id)])
        bodies = (synclog.body_attachment_id | synclog.response_attachment_id).sudo()
        self.assertFalse([body for body in bodies if PASSWORD.encode() in (body.raw or b"")])
        self.assertTrue(
            self.rossum.calls("POST", "/api/v1/auth/login"), "the password goes to the login only"
        )
        self.assertFalse(
            [entry for entry in self.rossum.requests_log if PASSWORD in json.dumps(entry["body"] or {})]
        )
        token_row = (
            self.env["ap.platform.secret"]
            .sudo()
            .search([("platform_id", "=", self.rplatform.id), ("kind", "=", "session_token")])
        )
        self.assertTrue(token_row and '"token"' not in token_row.token, "the token is stored encrypted")

    def test_test_connection(self):
        action = self.rplatform.with_user(self.manager).action_test_connection()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        self.assertIn("8236 (Invoices EU)", action["params"]["message"])
        self.rplatform.api_password = "wrong"
        action = self.rplatform.with_user(self.manager).action_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("refused the login", action["params"]["message"])
        self.rplatform.api_password = PASSWORD

    def test_pull_pages_through_the_export_with_429(self):
        self.rplatform.write({"mode": "both"})
        for index in range(5):
            self.rossum.add_annotation(fixture(314100 + index, document_id=f"INV-P-{index}"))
        self.rossum.add_annotation(fixture(314199, document_id="INV-P-TR", status="to_review"))
        self.rossum.fail_next(status=429, retry_after=7, path_prefix="/api/v1/queues")
        self.assertFalse(self.rplatform._pull_page(page_size=2))
        wait = self.rplatform.pull_next_at - fields.Datetime.now()
        self.assertTrue(timedelta(0) < wait <= timedelta(seconds=8), f"waits Retry-After (7 s): {wait}")
        pages = 0
        while self.rplatform._pull_page(page_size=2):
            pages += 1
        self.assertEqual(pages, 2, "3 pages of 2, 2, 1 via the next link")
        self.assertEqual(len(self.stagings()), 5, "confirmed ones only")
        exports = self.rossum.calls("GET", f"/api/v1/queues/{QUEUE}/export")
        self.assertEqual(exports[-1]["query"]["status"], "confirmed")
        self.assertEqual(self.rossum.throttled, 0, "stayed under 10 requests/s")
        # Pulled again: same content, nothing new.
        self.rplatform.pull_cursor = False
        while self.rplatform._pull_page(page_size=2):
            pass
        self.assertEqual(len(self.stagings()), 5)

    def test_approval_reverified_against_rossum(self):
        annotation = fixture(314200, document_id="INV-R-1200")
        body, headers = self.hook("annotation_content", "export", annotation)
        self.post_hook(body, headers)
        staging = self.stagings()
        self.rossum.annotations[314200]["status"] = "to_review"  # someone reopened it
        staging._process()
        self.assertEqual(staging.exception_type, "approval_not_confirmed")
        self.assertIn("to_review", staging.exception_reason)
        self.rossum.annotations[314200]["status"] = "confirmed"
        datapoint = self.rossum.annotations[314200]["content"][1]["children"][2]
        datapoint["content"]["normalized_value"] = "999.00"  # changed after it was sent
        staging._process()
        self.assertEqual(staging.exception_type, "approval_not_confirmed")
        self.assertIn("changed", staging.exception_reason)

    def test_customer_schema_ids_from_the_mapping_table(self):
        self.env["ap.rossum.datapoint"].create(
            {"platform_id": self.rplatform.id, "field": "number", "schema_id": "invoice_no"}
        )
        annotation = fixture(314300, document_id="INV-CUSTOM-1", schema_ids={"document_id": "invoice_no"})
        body, headers = self.hook("annotation_content", "export", annotation)
        self.assertEqual(self.post_hook(body, headers)[0], 202)
        self.assertEqual(self.stagings().number, "INV-CUSTOM-1")

    def test_secret_format_is_the_providers(self):
        self.rplatform.webhook_secret = "any string is a Rossum secret"
        self.assertEqual(self.rplatform._get_webhook_secrets()[0], "any string is a Rossum secret")
        payload = json.dumps(hook_payload("annotation_content", "export", fixture(1))).encode()
        self.assertTrue(sign("x", payload).startswith("sha256="))
        self.rplatform.webhook_secret = HOOK_SECRET

    def test_approval_check_honours_429_retry_after(self):
        annotation = fixture(314400, document_id="INV-R-1400")
        body, headers = self.hook("annotation_content", "export", annotation)
        self.post_hook(body, headers)
        staging = self.stagings()
        self.rossum.fail_next(status=429, retry_after=1, path_prefix="/api/v1/annotations/314400")
        staging._process()
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        gets = self.rossum.calls("GET", "/api/v1/annotations/314400")
        self.assertGreaterEqual(gets[1]["at"] - gets[0]["at"], 1.0, "waited Retry-After before asking again")
