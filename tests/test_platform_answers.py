"""The platform's odd answers (issue 17): each is a transient or permanent failure with a reason.

Real HTTP against the reference platform (tools/ap_platform_server.py) on 127.0.0.1: a 200 that is
not JSON, an HTML error page, a 10 MB body, a redirect to another host, a truncated body. None
crashes a cron; the outbox, the pull and the approval check act on the decision the error carries.
"""

from odoo.tests import tagged

from ..exceptions import PlatformCallError
from .common import API_KEY, ApPlatformServer, make_invoice
from .test_processing_bill import BillPipelineCase

HTML_PAGE = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
LOGIN_PAGE = "<html><head><title>Sign in - Corporate Proxy</title></head><body>login</body></html>"


@tagged("post_install", "-at_install")
class TestPlatformAnswers(BillPipelineCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = ApPlatformServer(api_key=API_KEY).start()
        cls.addClassCleanup(cls.server.stop)
        cls.other_host = ApPlatformServer().start()  # another origin: must never see our credentials
        cls.addClassCleanup(cls.other_host.stop)
        cls.platform.write({"base_url": cls.server.url, "retry_max_attempts": 5})

    def setUp(self):
        super().setUp()
        self.server.clear()
        self.other_host.clear()
        self.server.add_invoice(make_invoice(doc_id="inv_ans", number="ANS-1"))

    def call(self, **fault):
        self.server.fail_next(path_prefix="/invoices", **fault)
        # Not assertRaises: Odoo's rolls back to a savepoint, and the sync-log entry is kept here.
        try:
            self.platform._call("GET", "/invoices/inv_ans", raise_for_status=True, expect_json=True)
        except PlatformCallError as error:
            return error
        self.fail("no PlatformCallError")

    def last_log(self):
        return self.env["ap.sync.log"].search(
            [("platform_id", "=", self.platform.id)], order="id desc", limit=1
        )

    # ------------------------------------------------------------------ the classification
    def test_200_that_is_not_json_is_permanent(self):
        error = self.call(status=200, body="OK, thanks")
        self.assertFalse(error.transient)
        self.assertEqual(error.status, 200)
        self.assertIn("not JSON", error.reason)
        self.assertEqual(self.last_log().outcome, "rejected")

    def test_200_with_an_html_page_names_the_page(self):
        error = self.call(status=200, body=LOGIN_PAGE)
        self.assertFalse(error.transient)
        self.assertIn("HTML page (Sign in - Corporate Proxy)", error.reason)
        self.assertIn("base URL", error.reason)

    def test_html_error_page_5xx_is_transient_4xx_permanent(self):
        error = self.call(status=502, body=HTML_PAGE, retry_after=7)
        self.assertTrue(error.transient)
        self.assertEqual((error.status, error.retry_after), (502, 7))
        self.assertIn("HTTP 502", error.reason)
        self.assertIn("HTML error page (502 Bad Gateway)", error.reason)
        self.assertNotIn("<html", error.reason.lower(), "a reason for people, not markup")
        error = self.call(status=403, body=HTML_PAGE)
        self.assertFalse(error.transient)
        self.assertEqual(self.last_log().outcome, "rejected")

    def test_10_mb_body_is_not_read(self):
        self.platform.max_response_size = 1024 * 1024
        error = self.call(status=200, body="x" * (10 * 1024 * 1024))
        self.assertFalse(error.transient)
        self.assertIn("larger than 1048576 bytes", error.reason)
        log = self.last_log()
        self.assertEqual((log.http_status, log.outcome), (200, "rejected"))
        self.assertFalse(log.response_attachment_id, "nothing of it is kept")

    def test_truncated_body_is_transient(self):
        error = self.call(status=200, body={"id": "inv_ans", "lines": ["x" * 5000]}, truncate=True)
        self.assertTrue(error.transient)
        self.assertIn("cut short", error.reason)

    def test_redirect_to_another_host_is_not_followed(self):
        target = f"{self.other_host.url}/invoices/inv_ans"
        error = self.call(status=302, body="", headers={"Location": target})
        self.assertFalse(error.transient)
        self.assertIn("another host", error.reason)
        self.assertIn(f"127.0.0.1:{self.other_host.port}", error.reason)
        self.assertEqual(
            self.other_host.requests_log, [], "the other host got nothing, credentials least of all"
        )

    def test_redirect_on_the_same_host_is_followed_with_credentials(self):
        self.server.fail_next(
            status=307, body="", headers={"Location": "/invoices/inv_ans"}, path_prefix="/old"
        )
        response = self.platform._call("GET", "/old/inv_ans", raise_for_status=True, expect_json=True)
        self.assertEqual(response.json()["id"], "inv_ans")
        self.assertEqual([r["path"] for r in self.server.requests_log], ["/old/inv_ans", "/invoices/inv_ans"])
        self.assertTrue(all(r["authorization_present"] for r in self.server.requests_log))

    def test_connection_refused_is_transient(self):
        self.platform.base_url = "http://127.0.0.1:9"  # discard port: nothing listens
        with self.assertRaises(PlatformCallError) as caught:
            self.platform._call("GET", "/invoices", raise_for_status=True)
        self.assertTrue(caught.exception.transient)
        self.assertIn("Connection error", caught.exception.reason)

    # ------------------------------------------------------------------ the callers act on it
    def test_outbox_retries_transient_answers_and_kills_permanent_ones(self):
        Outbox = self.env["ap.sync.outbox"]
        cases = [
            ({"status": 502, "body": HTML_PAGE}, "pending"),
            ({"status": 200, "body": "x", "truncate": True}, "pending"),
            ({"status": 302, "body": "", "headers": {"Location": f"{self.other_host.url}/x"}}, "dead"),
            ({"status": 413, "body": "x" * (6 * 1024 * 1024)}, "dead"),
        ]
        for index, (fault, expected) in enumerate(cases):
            message = Outbox._enqueue(
                self.platform, "erp_status", "POST", f"/invoices/inv_{index}/erp-status", {"status": "posted"},
                document_key=f"invoice:inv_{index}", status="posted",
            )  # fmt: skip
            self.server.fail_next(path_prefix=f"/invoices/inv_{index}/", **fault)
            Outbox._cron_deliver()  # never raises
            self.assertEqual(message.state, expected, (fault.get("status"), message.last_error))
            self.assertTrue(message.last_error)
        self.assertEqual(self.other_host.requests_log, [])

    def test_approval_check_waits_on_transient_stops_on_permanent(self):
        self.platform.verify_approval = True
        staging = self.stage(doc_id="inv_ans", number="ANS-1")
        self.server.fail_next(status=503, body=HTML_PAGE, retry_after=60, path_prefix="/invoices/")
        self.env["ap.invoice.staging"]._cron_process()
        self.assertEqual(staging.state, "received", "a platform that cannot answer now: try again later")
        self.assertEqual(staging.platform_retry_count, 1)
        self.assertTrue(staging.platform_retry_at)
        self.assertFalse(self.env["ap.invoice.staging"]._claim(), "not claimed again before its time")
        staging.platform_retry_at = False
        self.server.fail_next(status=200, body=LOGIN_PAGE, path_prefix="/invoices/")
        self.env["ap.invoice.staging"]._cron_process()
        self.assertStopped(staging, "approval_not_confirmed", "HTML page")

    def test_pull_of_a_page_that_is_an_html_page(self):
        self.platform.write({"mode": "both", "pull_interval": 15})
        self.server.fail_next(status=200, body=LOGIN_PAGE, path_prefix="/invoices")
        self.env["ap.platform"]._cron_pull()  # never raises
        self.assertTrue(self.platform.pull_next_at, "the pull waits for its interval")
        self.assertFalse(self.platform.pull_cursor)
        self.assertIn("HTML page", self.last_log().error)
