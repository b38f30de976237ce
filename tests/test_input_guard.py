"""Hostile input at every door (issue 17): the input guard, the webhook probe, the pull, RPC writes."""

import base64
import json
import time
import xmlrpc.client

from odoo.exceptions import UserError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tests.common import BaseCase

from ..exceptions import IntakeError
from ..utils import input_guard
from .common import (
    WEBHOOK_SECRET,
    ApSyncCase,
    ReferencePlatformMixin,
    make_invoice,
    sign_headers,
)

URL = "/ap_sync/webhook/test_a"
ENVELOPE_HEAD = '{"type":"invoice.approved","timestamp":"2026-11-02T10:15:00Z","data":'


def envelope_bytes(data):
    """A signed-ready envelope; ``data`` is a dict (dumped with ASCII escapes) or JSON text."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (ENVELOPE_HEAD + text + "}").encode()


def invoice_with(**changes):
    invoice = make_invoice(doc_id=f"inv_{time.monotonic_ns()}")
    for path, value in changes.items():
        target = invoice
        *parents, last = path.split("__")
        for parent in parents:
            target = target[int(parent)] if isinstance(target, list) else target[parent]
        target[last] = value
    return invoice


class WebhookPoster:
    """Post correctly signed bodies to the real webhook over HTTP (shared with the property tests)."""

    def post_signed(self, body, webhook_id=None, url=URL, headers=None):
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(sign_headers(WEBHOOK_SECRET, body, webhook_id=webhook_id))
        all_headers.update(headers or {})
        response = self.opener.post(self.base_url() + url, data=body, headers=all_headers, timeout=60)
        try:
            answer = response.json()
        except ValueError:
            self.fail(f"not a JSON answer ({response.status_code}): {response.text[:300]!r}")
        return response.status_code, answer, all_headers.get("webhook-id")


class TestGuardFunctions(BaseCase):
    """The guard itself, without a database."""

    def test_depth_is_measured_outside_strings(self):
        self.assertEqual(input_guard.text_depth('{"a": [1, {"b": "[[[[{{{{"}]}'), 3)
        self.assertEqual(input_guard.text_depth(r'["\"[[[", "\\", [[]]]'), 3)
        self.assertEqual(input_guard.text_depth("[" * 5000 + "]" * 5000), 5000)
        self.assertEqual(input_guard.text_depth("42"), 0)

    def test_load_json_answers(self):
        cases = {
            "[" * 5000 + "]" * 5000: (400, "nesting too deep"),
            "[" * 65 + "]" * 65: (400, "nesting too deep"),
            '{"a": "x\\u0000y"}': (422, "/a"),
            '{"a": [1, "\\ud800"]}': (422, "/a/1"),
            '{"a": {"k\\udfffey": 1}}': (422, "/a"),
            '{"a~b/c": "\\u0000"}': (422, "/a~0b~1c"),
            "{bad": (400, "Expecting property name"),
        }
        for text, (status, needle) in cases.items():
            with self.subTest(text=text[:40]), self.assertRaises(IntakeError) as caught:
                input_guard.load_json(text)
            self.assertEqual(caught.exception.status, status)
            self.assertIn(needle, json.dumps(caught.exception.body))
        self.assertEqual(input_guard.text_depth(json.dumps(input_guard.load_json("[" * 64 + "]" * 64))), 64)
        self.assertEqual(input_guard.load_json('{"emoji": "\\ud83d\\ude00"}'), {"emoji": "\U0001f600"})
        self.assertEqual(input_guard.load_json(b'{"a": 1}'), {"a": 1})

    def test_find_problem_is_iterative(self):
        deep = []
        for _index in range(20000):  # far beyond Python's recursion limit
            deep = [deep]
        self.assertEqual(input_guard.find_problem(deep)[0], "depth")
        self.assertEqual(input_guard.clean({"a\x00": ["\ud800"]}), {"a\ufffd": ["\ufffd"]})


@tagged("post_install", "-at_install")
class TestHostileWebhook(ApSyncCase, HttpCase, WebhookPoster):
    """A probe of hostile payloads, all correctly signed: never a 5xx, always JSON, nothing lost."""

    def probes(self):
        deep = "[" * 5000 + "]" * 5000
        valid = make_invoice
        lines_5000 = [{"quantity": "1", "unit_price": "1.00"}] * 5000
        dup_keys = json.dumps(valid(doc_id="inv_dupkeys"), separators=(",", ":"))
        dup_keys = dup_keys.replace('"number":"INV-0001"', '"number":"X-1","number":"X-2"')
        in_string = "[" * 5000
        return [
            # (name, body bytes, expected status, expected error / None, extra headers)
            (
                "NUL in supplier name",
                envelope_bytes(invoice_with(supplier__name="Acme\x00Ltd")),
                422,
                "/data/supplier/name",
            ),
            ("NUL in invoice number", envelope_bytes(invoice_with(number="INV\x00-1")), 422, "/data/number"),
            ("NUL in a member name", envelope_bytes(invoice_with(**{"x\x00y": 1})), 422, "/data"),
            (
                "NUL in a line",
                envelope_bytes(invoice_with(lines__0__description="a\x00")),
                422,
                "/data/lines/0/description",
            ),
            (
                "lone high surrogate",
                envelope_bytes(invoice_with(supplier__name="\ud800")),
                422,
                "/data/supplier/name",
            ),
            ("lone low surrogate", envelope_bytes(invoice_with(number="A\udfffB")), 422, "/data/number"),
            (
                "surrogate in the type",
                (ENVELOPE_HEAD.replace("invoice.approved", "\\ud800") + "{}}").encode(),
                422,
                "/type",
            ),
            ("nested 5,000 levels", (ENVELOPE_HEAD + deep + "}").encode(), 400, "nesting too deep"),
            (
                "nested 65 levels",
                envelope_bytes(invoice_with(extra=json.loads("[" * 63 + "]" * 63))),
                400,
                "nesting too deep",
            ),
            (
                "nested 60 levels in an unknown field",
                envelope_bytes(invoice_with(extra=json.loads("[" * 58 + "]" * 58))),
                202,
                None,
            ),
            (
                "NaN amount",
                envelope_bytes(json.dumps(valid(doc_id="inv_nan")).replace('"151.25"', "NaN")),
                422,
                None,
            ),
            (
                "Infinity amount",
                envelope_bytes(json.dumps(valid(doc_id="inv_inf")).replace('"151.25"', "Infinity")),
                422,
                None,
            ),
            (
                "1e999999 amount",
                envelope_bytes(json.dumps(valid(doc_id="inv_big")).replace('"151.25"', "1e999999")),
                422,
                None,
            ),
            (
                "10^5000 integer",
                envelope_bytes(json.dumps(valid(doc_id="inv_int")).replace('"151.25"', "1" + "0" * 5000)),
                400,
                "invalid_json",
            ),
            ("impossible date", envelope_bytes(invoice_with(issue_date="2026-02-30")), 422, "/issue_date"),
            ("200,000-character number", envelope_bytes(invoice_with(number="N" * 200000)), 422, "/number"),
            ("5,000 lines", envelope_bytes(valid(doc_id="inv_5000", lines=lines_5000)), 202, None),
            (
                "BOM before the JSON",
                "\ufeff".encode() + envelope_bytes(valid(doc_id="inv_bom")),
                400,
                "invalid_json",
            ),
            (
                "UTF-16 body",
                envelope_bytes(valid(doc_id="inv_u16")).decode().encode("utf-16"),
                400,
                "invalid_json",
            ),
            ("duplicate keys", envelope_bytes(dup_keys), 202, None),
            (
                "HTML in the supplier name",
                envelope_bytes(invoice_with(supplier__name="<script>alert(1)</script><b>x</b>")),
                202,
                None,
            ),
            (
                "SQL-looking number",
                envelope_bytes(invoice_with(number="1'; DROP TABLE ap_sync_event;--")),
                202,
                None,
            ),
            (
                "control characters",
                envelope_bytes(invoice_with(supplier__name="A\x01\x07\x1b\x1fB")),
                202,
                None,
            ),
            (
                "emoji and astral characters",
                envelope_bytes(invoice_with(supplier__name="Acme \U0001f600 \U00010348")),
                202,
                None,
            ),
            (
                "brackets inside a string",
                envelope_bytes(invoice_with(lines__0__description=in_string[:1000])),
                202,
                None,
            ),
            (
                "raw NUL byte in a string",
                envelope_bytes(valid(doc_id="inv_raw")).replace(b"Acme", b"Ac\x00me"),
                400,
                "invalid_json",
            ),
            (
                "invalid UTF-8",
                envelope_bytes(valid(doc_id="inv_latin")).replace(b"Acme", b"Acm\xe9"),
                400,
                "invalid_json",
            ),
            ("empty body", b"", 400, "invalid_json"),
            ("JSON null", b"null", 400, "invalid_envelope"),
            ("top-level array", b"[1,2,3]", 400, "invalid_envelope"),
            ("type is a number", b'{"type":42,"data":{}}', 400, "invalid_envelope"),
            ("data is a string", (ENVELOPE_HEAD + '"x"}').encode(), 422, None),
            ("unknown event type", b'{"type":"invoice.paid","data":{}}', 422, "/type"),
            ("ping carrying a NUL", b'{"type":"ping","data":{"a":"\\u0000"}}', 422, "/data/a"),
            (
                "quantity as a huge number",
                envelope_bytes(invoice_with(lines__0__quantity=10**100)),
                422,
                "/lines/0/quantity",
            ),
            (
                "decimal string of 33 digits",
                envelope_bytes(invoice_with(lines__0__quantity="9" * 33)),
                422,
                "/lines/0/quantity",
            ),
        ]

    def test_hostile_payloads(self):
        results = {}
        for name, body, expected, needle in self.probes():
            with self.subTest(probe=name):
                before = self.env["ap.sync.event"].search_count([])
                status, answer, webhook_id = self.post_signed(body)
                results[name] = status
                self.assertLess(status, 500, f"{name}: {answer}")
                self.assertEqual(status, expected, f"{name}: {answer}")
                if needle:
                    self.assertIn(needle, json.dumps(answer), name)
                stored = self.env["ap.sync.event"].search([("webhook_id", "=", webhook_id)])
                self.assertEqual(bool(stored), 200 <= status < 300, f"{name}: stored iff 2xx")
                if 200 <= status < 300:
                    self.assertEqual(answer.get("event_id"), webhook_id)
                    self.assertIn(stored.state, ("applied", "unchanged"), name)
                else:
                    self.assertEqual(self.env["ap.sync.event"].search_count([]), before)
                    log = self.env["ap.sync.log"].search([("event_id", "=", webhook_id)], limit=1)
                    self.assertEqual(log.http_status, status, name)
                    if status in (400, 422) and name not in ("UTF-16 body", "invalid UTF-8", "empty body"):
                        # Authenticated and refused: the body is kept (byte for byte when the guard refused it).
                        self.assertTrue(log.body_attachment_id, f"{name}: body kept")
                        if any(word in name for word in ("NUL", "surrogate", "nested")):
                            self.assertEqual(log.body_attachment_id.raw, body, f"{name}: kept as received")
        self.assertGreaterEqual(len(results), 30)
        five_xx = self.env["ap.sync.log"].search_count([("http_status", ">=", 500)])
        self.assertEqual(five_xx, 0, "no 5xx in the sync log")

    def test_nul_in_the_url_and_odd_webhook_ids(self):
        body = envelope_bytes(make_invoice(doc_id="inv_url"))
        status, answer, _id = self.post_signed(body, url="/ap_sync/webhook/test%00_a")
        self.assertEqual((status, answer["error"]), (404, "unknown_platform"))
        for odd in ("msg with space", "msg_\xe9t\xe9", "x" * 300):
            status, answer, _id = self.post_signed(body, webhook_id=odd)
            self.assertEqual((status, answer["error"]), (401, "invalid_signature"), odd)
        self.assertFalse(self.env["ap.sync.log"].search_count([("http_status", ">=", 500)]))


@tagged("post_install", "-at_install")
class TestHostilePull(ReferencePlatformMixin, ApSyncCase):
    platform_values = {"mode": "pull", "pull_interval": 10}

    def add(self, doc_id, day, **changes):
        invoice = make_invoice(doc_id=doc_id, number=f"N-{doc_id}")
        invoice["updated_at"] = f"2026-11-{day:02d}T10:00:00Z"
        invoice.update(changes)
        return self.server.add_invoice(invoice)

    def exceptions(self):
        return self.env["ap.sync.exception"].search(
            [("exception_type", "=", "intake_refused"), ("platform_id", "=", self.platform.id)]
        )

    def test_one_bad_document_does_not_block_the_page(self):
        self.add("inv_ok1", 1)
        self.add("inv_nul", 2, number="BAD\x00NUMBER")
        self.add("inv_ok2", 3)
        self.add("inv_sur", 4, supplier={"name": "\ud800"})
        deep = []
        for _index in range(70):
            deep = [deep]
        self.add("inv_deep", 5, extra=deep)
        self.add("inv_schema", 6, currency="euro")
        self.add("inv_ok3", 7)
        self.assertTrue(self.platform._pull_page(page_size=4))
        cursor = self.platform.pull_cursor
        self.assertTrue(cursor)
        self.assertFalse(self.platform._pull_page(page_size=4))
        staged = self.env["ap.invoice.staging"].search([("platform_id", "=", self.platform.id)])
        self.assertEqual(sorted(staged.mapped("document_id")), ["inv_ok1", "inv_ok2", "inv_ok3"])
        refused = self.exceptions()
        self.assertEqual(
            sorted(refused.mapped("document_ref")), ["inv_deep", "inv_nul", "inv_schema", "inv_sur"]
        )
        nul = refused.filtered(lambda e: e.document_ref == "inv_nul")
        self.assertIn("/number", nul.description)
        self.assertIn("NUL", nul.description)
        self.assertEqual(nul.log_id.http_status, 422)
        self.assertIn(b"BAD\\u0000NUMBER", nul.log_id.body_attachment_id.raw, "raw document kept")
        self.assertIn(
            "nesting too deep", refused.filtered(lambda e: e.document_ref == "inv_deep").description
        )
        self.assertTrue(nul.activity_ids, "a person is told")
        # Pulled again (the listing restarts from the watermark, inclusive): no loop, no second exception.
        self.platform.write({"pull_updated_since": False, "pull_next_at": False})
        self.assertTrue(self.platform._pull_page(page_size=4))
        self.assertFalse(self.platform._pull_page(page_size=4))
        self.assertEqual(len(self.exceptions()), 4, "one exception per document, not one per pull")
        self.assertEqual(nul.occurrences, 2)
        self.assertFalse(self.platform.pull_cursor, "the listing completed")

    def test_not_an_object_in_a_page(self):
        self.add("inv_ok", 1)
        original = self.server._list_invoices

        def listing(query):
            status, page = original({k: v for k, v in query.items() if k != "status"})
            page["data"] = [item for item in page["data"] if isinstance(item, dict)] + [42, "x\x00"]
            return status, page

        self.server._list_invoices = listing
        try:
            self.platform._pull_page(page_size=10)
        finally:
            self.server._list_invoices = original
        self.assertEqual(
            self.env["ap.invoice.staging"].search([("platform_id", "=", self.platform.id)]).document_id,
            "inv_ok",
        )
        self.assertEqual(sorted(self.exceptions().mapped("document_ref")), ["#2", "#3"])
        self.assertIn("not a JSON object", self.exceptions()[0].description)


@tagged("post_install", "-at_install")
class TestHostileRpc(ApSyncCase, HttpCase):
    """Writes over JSON-RPC and XML-RPC: a readable error, never an internal one."""

    def call_kw(self, model, method, args, kwargs=None):
        self.authenticate("admin", "admin")
        payload = {"jsonrpc": "2.0", "method": "call", "id": 1,
                   "params": {"model": model, "method": method, "args": args, "kwargs": kwargs or {}}}  # fmt: skip
        response = self.url_open(
            "/web/dataset/call_kw",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        self.assertLess(response.status_code, 500, response.text[:300])
        return response.json()

    def assert_refused(self, answer, needle, error="odoo.exceptions.ValidationError"):
        self.assertIn("error", answer, answer)
        data = answer["error"]["data"]
        self.assertEqual(data["name"], error, data.get("message"))
        self.assertIn(needle, data["message"])

    def test_json_rpc_writes(self):
        staging = self.env["ap.invoice.staging"].create(
            {"name": "APS-RPC", "platform_id": self.platform.id, "company_id": self.company_a.id,
             "document_id": "inv_rpc"}
        )  # fmt: skip
        vendor = self.env["res.partner"].create({"name": "RPC Vendor"})
        mapping = self.env["ap.sync.mapping"].create(
            {"mapping_type": "vendor", "external_code": "V-RPC", "partner_id": vendor.id}
        )
        cases = [
            ("ap.invoice.staging", staging.id, {"supplier_name": "A\x00B"}, "NUL"),
            ("ap.invoice.staging", staging.id, {"number": "\ud800"}, "surrogate"),
            ("ap.invoice.staging", staging.id, {"number": "N" * 100000}, "too long"),
            ("ap.invoice.staging", staging.id, {"amount_gross": "lots"}, "not a valid"),
            ("ap.invoice.staging", staging.id, {"amount_gross": {"a": 1}}, "not a valid"),
            ("ap.invoice.staging", staging.id, {"supplier_name": ["a", "b"]}, "a text is expected"),
            ("ap.invoice.staging", staging.id, {"state": "nonsense"}, "not a valid"),
            ("ap.invoice.staging", staging.id, {"partner_id": "abc"}, "a record id"),
            ("ap.sync.mapping", mapping.id, {"external_code": "V\x00"}, "NUL"),
            ("ap.sync.mapping", mapping.id, {"external_code": 12}, ""),
            ("ap.sync.mapping", mapping.id, {"external_code": {"x": 1}}, "a text is expected"),
            ("ap.sync.mapping", mapping.id, {"note": "\udc80"}, "surrogate"),
            ("ap.platform", self.platform.id, {"name": "P\x00"}, "NUL"),
            ("ap.platform", self.platform.id, {"base_url": "http://127.0.0.1/" + "a" * 5000}, "too long"),
            ("ap.platform", self.platform.id, {"pull_interval": 2**40}, "out of range"),
            ("ap.platform", self.platform.id, {"timeout_read": "soon"}, "not a valid"),
        ]
        for model, record_id, values, needle in cases:
            with self.subTest(model=model, values=str(values)[:60]):
                answer = self.call_kw(model, "write", [[record_id], values])
                if model == "ap.sync.mapping" and values == {"external_code": 12}:
                    self.assertEqual(answer.get("result"), True, answer)  # a number becomes its text
                    continue
                if model == "ap.invoice.staging":
                    # Nobody writes a platform document's fields over RPC (protected evidence): a readable
                    # refusal naming the field, never a 500; the input rules hold for the module's own
                    # writes (below).
                    self.assert_refused(answer, next(iter(values)), error="odoo.exceptions.UserError")
                    with self.assertRaises(ValidationError), self.env.cr.savepoint():
                        staging.sudo().write(values)
                    continue
                self.assert_refused(answer, needle)
        answer = self.call_kw(
            "ap.sync.mapping",
            "create",
            [{"mapping_type": "vendor", "external_code": "\x00", "partner_id": vendor.id}],
        )
        self.assert_refused(answer, "NUL")

    def test_xml_rpc_writes(self):
        common = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/common")
        uid = common.authenticate(self.env.cr.dbname, "admin", "admin", {})
        models = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/object", allow_none=True)
        db = self.env.cr.dbname
        for values in ({"name": "P\x00"}, {"name": "x" * 10000}, {"pull_interval": "often"}):
            with self.subTest(values=str(values)[:40]), self.assertRaises(xmlrpc.client.Fault) as caught:
                models.execute_kw(db, uid, "admin", "ap.platform", "write", [[self.platform.id], values])
            self.assertNotIn("psycopg2", caught.exception.faultString)
            self.assertNotIn("internal", caught.exception.faultString.lower())

    def test_orm_writes_from_code(self):
        with self.assertRaisesRegex(ValidationError, "NUL"):
            self.platform.write({"name": "a\x00"})
        staging = self.env["ap.invoice.staging"].create(
            {"name": "APS-N", "platform_id": self.platform.id, "company_id": self.company_a.id,
             "document_id": "inv_n", "amount_gross": 12.5, "priority": 3}
        )  # fmt: skip
        # Numbers, ids and booleans of the right type pass as they are; the edges are still refused.
        for values, needle in (
            ({"amount_gross": float("nan")}, "not a number"),
            ({"amount_gross": float("inf")}, "not a number"),
            ({"amount_gross": 10**400}, "not a valid"),
            ({"partner_id": 2**40}, "out of range"),
            ({"platform_retry_count": 2**40}, "out of range"),
            ({"state": "nonsense"}, "not a valid"),
        ):
            with self.subTest(values=str(values)[:40]), self.assertRaisesRegex(ValidationError, needle):
                staging.write(values)
        staging.write({"amount_gross": 7, "attention_required": True, "platform_retry_count": 2})
        self.assertEqual((staging.amount_gross, staging.attention_required), (7.0, True))
        with self.assertRaisesRegex(ValidationError, "/a"):
            self.env["ap.invoice.staging"].create(
                {"name": "APS-J", "platform_id": self.platform.id, "company_id": self.company_a.id,
                 "document_id": "inv_j", "document_json": {"a": "\ud800"}}
            )  # fmt: skip


@tagged("post_install", "-at_install")
class TestMappingCsvImport(ApSyncCase):
    """The CSV import of mappings: a bad file gives a readable error per line, never a traceback."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vendor = cls.env["res.partner"].create({"name": "CSV Vendor", "ref": "CSV-REF-1"})
        cls.tax = cls.env["account.tax"].search(
            [("type_tax_use", "=", "purchase"), ("company_id", "=", cls.company_a.id)], limit=1
        )
        cls.account = cls.env["account.account"].search([("company_ids", "in", cls.company_a.id)], limit=1)

    def run_import(self, content, encoding="utf-8"):
        raw = content.encode(encoding, "surrogatepass") if isinstance(content, str) else content
        wizard = (
            self.env["ap.sync.mapping.import"]
            .with_user(self.manager)
            .create({"file": base64.b64encode(raw), "filename": "mappings.csv"})
        )
        return wizard.action_import()

    def test_good_file_imports_and_updates(self):
        content = (
            "mapping_type,external_code,target,platform,note\n"
            "vendor,V-1,CSV-REF-1,test_a,by ref\n"
            f"tax,s/21,{self.tax.name},,\n"
            f"account,6000,{self.account.code},,\n"
        )
        result = self.run_import(content)
        self.assertEqual(result["params"]["type"], "success")
        Mapping = self.env["ap.sync.mapping"]
        self.assertEqual(Mapping._lookup("vendor", "V-1", platform=self.platform), self.vendor)
        self.assertEqual(Mapping._lookup("tax", "S/21"), self.tax)
        self.assertEqual(Mapping._lookup("account", "6000"), self.account)
        # Imported again with another vendor: updated, not duplicated.
        other = self.env["res.partner"].create({"name": "Other CSV Vendor"})
        self.run_import(f"mapping_type;external_code;target;platform\nvendor;V-1;{other.id};test_a\n")
        self.assertEqual(Mapping.search_count([("external_code", "=", "V-1")]), 1)
        self.assertEqual(Mapping._lookup("vendor", "V-1", platform=self.platform), other)

    def test_bad_files_say_which_line(self):
        header = "mapping_type,external_code,target\n"
        cases = [
            (("mapping_type,code\nvendor,V\n",), "no column external_code, target"),
            (
                (header + "vendor,V-A,CSV-REF-1\n" + "vendor,Vé,CSV-REF-1\n", "latin-1"),
                "line 3: the file is not UTF-8",
            ),
            (
                (header + "vendor,V-B,CSV-REF-1\nvendor,V\x00C,CSV-REF-1\n",),
                "line 3: column external_code contains a NUL",
            ),
            ((header + "vendr,V-D,CSV-REF-1\n",), "line 2: unknown mapping type 'vendr'"),
            ((header + "vendor,V-E,Nobody At All\n",), "line 2: no vendor 'Nobody At All' found"),
            (
                (header + "account,6000,no-such-code\ntax,S/21,No Such Tax\n",),
                "line 3: no tax 'No Such Tax' found",
            ),
            ((header + "vendor,,CSV-REF-1\n",), "line 2: the external code is empty"),
            ((header + "vendor,V-F,CSV-REF-1,extra\n",), "line 2: 4 cells where the header has 3 columns"),
            (
                (header + "tax,S/abc," + (self.tax.name or "x") + "\n",),
                "line 2: A tax mapping's code is CATEGORY/RATE",
            ),
            ((header + "vendor,V-G,\ud800\n",), "line 2:"),
            ((b"\xff\xfe" + header.encode("utf-16-le"),), "not UTF-8"),
            ((b"",), "The file is empty"),
            ((header,), "no lines to import"),
            (
                (header + "vendor,V-H,CSV-REF-1\n" + "vendor,V-I," + "x" * 2000 + "\n",),
                "line 3: column target is longer",
            ),
        ]
        for args, needle in cases:
            with self.subTest(needle=needle), self.assertRaises(UserError) as caught:
                self.run_import(*args)
            self.assertIn(needle, str(caught.exception))
        self.assertFalse(
            self.env["ap.sync.mapping"].search_count([("external_code", "in", ("V-A", "V-B", "V-H"))]),
            "nothing imported from a file with a bad line",
        )

    def test_standard_import_reports_bad_values_per_row(self):
        result = (
            self.env["ap.sync.mapping"]
            .with_user(self.manager)
            .load(
                ["mapping_type", "external_code", "partner_id/.id"],
                [["vendor", "V-OK", str(self.vendor.id)], ["vendor", "V\x00BAD", str(self.vendor.id)]],
            )
        )
        errors = [message for message in result["messages"] if message["type"] == "error"]
        self.assertTrue(errors)
        self.assertIn("NUL", errors[0]["message"])
