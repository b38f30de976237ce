"""Issue 15: sync policies and SLAs, priorities and close windows, business metrics, reconciliation."""

from datetime import date, timedelta
from pathlib import Path
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import ReferencePlatformMixin, make_invoice
from .test_processing_bill import BillPipelineCase

RUNBOOK_SECTIONS = (
    "The platform is down", "401 after a secret rotation", "The encryption key is lost", "Dead letters",
    "A cron deactivated after repeated timeouts", "A storm of bank-account changes",
    "A duplicate suspected at month-end", "Restoring a production copy",
)  # fmt: skip


@tagged("post_install", "-at_install")
class TestOperations(BillPipelineCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Rule = cls.env["ap.sync.priority.rule"]
        cls.Policy = cls.env["ap.sync.policy"]
        # Month-end windows of the data file would make results depend on today's date.
        cls.env["ap.sync.close.window"].search([]).active = False

    def stage(self, **kwargs):
        kwargs.setdefault("number", kwargs.get("doc_id", "inv").upper())  # distinct numbers: no duplicates
        return super().stage(**kwargs)

    def big(self, doc_id, amount="5000"):
        return self.stage(
            doc_id=doc_id, number=doc_id.upper(), lines=[{"quantity": "1", "unit_price": amount}]
        )

    # ------------------------------------------------------------------ priorities
    def test_high_value_staged_last_is_billed_first(self):
        self.Rule.create({"name": "High value", "rule_type": "amount", "amount_min": 1000, "points": 50})
        small = [self.stage(doc_id=f"inv_small_{i}", number=f"S-{i}") for i in range(3)]
        high = self.big("inv_high")
        self.assertGreater(high.id, max(s.id for s in small), "the high-value invoice is staged last")
        self.assertEqual(high.priority, 50)
        self.assertEqual({s.priority for s in small}, {0})
        self.env["ap.invoice.staging"]._cron_process(batch_size=1)
        self.assertEqual(high.state, "bill_created", high.exception_reason)
        self.assertTrue(all(s.state == "received" for s in small))
        self.env["ap.invoice.staging"]._cron_process(batch_size=1)
        self.assertEqual([s.state for s in small], ["bill_created", "received", "received"], "then FIFO")
        self.assertLess(high.move_id.id, small[0].move_id.id)

    def test_due_date_vendor_rules_and_close_window_boost(self):
        today = fields.Date.context_today(self.env["ap.invoice.staging"])
        self.Rule.create([
            {"name": "High value", "rule_type": "amount", "amount_min": 1000, "points": 30, "boost_in_close": False},
            {"name": "Due soon", "rule_type": "due_date", "due_days": 3, "points": 20},
            {"name": "Key vendor", "rule_type": "vendor", "partner_id": self.vendor.id, "points": 5},
        ])  # fmt: skip
        due = self.stage(doc_id="inv_due", due_date=str(today + timedelta(days=2)), issue_date=str(today))
        high = self.big("inv_high2")
        self.assertEqual((due.priority, high.priority), (20, 30))
        due._process()
        self.assertEqual(due.partner_id, self.vendor)
        self.assertEqual(due.priority, 25, "the vendor rule applies once the vendor is matched")
        # A close window open today: the boosted rules weigh three times more; the high value does not.
        window = self.env["ap.sync.close.window"].create(
            {"name": "Payment run", "window_type": "dates", "date_from": today, "date_to": today, "factor": 3}
        )
        self.assertEqual(high.priority, 30)
        waiting_due = self.stage(
            doc_id="inv_due2", due_date=str(today + timedelta(days=1)), issue_date=str(today)
        )
        self.assertEqual(waiting_due.priority, 60, "due soon x3 during the close window")
        claimed = self.env["ap.invoice.staging"]._claim(limit=1)
        self.assertEqual(claimed, waiting_due, "during the window, due soon goes before high value")
        window.active = False
        self.assertEqual(waiting_due.priority, 20)
        # Month end: the last 3 working days.
        month_end = self.env["ap.sync.close.window"].new({"window_type": "month_end", "working_days": 3})
        self.assertTrue(month_end._is_open_on(date(2026, 11, 30)))  # Monday
        self.assertTrue(month_end._is_open_on(date(2026, 11, 26)))  # Thursday (27 Fri, 30 Mon)
        self.assertFalse(month_end._is_open_on(date(2026, 11, 25)))
        self.assertFalse(month_end._is_open_on(date(2026, 11, 28)))  # Saturday

    def test_intake_inserts_priority_and_line_company_once(self):
        """The webhook's INSERTs carry the priority and the lines' company: the rows are not written a
        second time, and both are what their computations give."""
        today = fields.Date.context_today(self.env["ap.invoice.staging"])
        self.Rule.create([
            {"name": "High value", "rule_type": "amount", "amount_min": 1000, "points": 30},
            {"name": "Due soon", "rule_type": "due_date", "due_days": 3, "points": 20},
            {"name": "This platform", "rule_type": "platform", "platform_id": self.platform.id, "points": 4},
        ])  # fmt: skip
        self.env["ap.sync.close.window"].create(
            {"name": "Payment run", "window_type": "dates", "date_from": today, "date_to": today, "factor": 2}
        )
        self.env.flush_all()
        statements = []
        execute = type(self.env.cr).execute

        def spy(cr, query, params=None, log_exceptions=True):
            statements.append(getattr(query, "code", query))
            return execute(cr, query, params, log_exceptions)

        with patch.object(type(self.env.cr), "execute", spy):
            staging = self.stage(
                doc_id="inv_once", due_date=str(today + timedelta(days=1)), issue_date=str(today),
                lines=[{"quantity": "2", "unit_price": "600"}, {"quantity": "1", "unit_price": "10"}],
            )  # fmt: skip
            self.env.flush_all()
        self.assertEqual(staging.priority, (30 + 20 + 4) * 2)
        self.assertEqual(staging.line_ids.company_id, staging.company_id)
        rewrites = [q for q in statements if q.lstrip().startswith(('UPDATE "ap_invoice_staging"',
                                                                    'UPDATE "ap_invoice_staging_line"'))]  # fmt: skip
        self.assertEqual(rewrites, [], "the staging record and its lines are written once")
        inserts = [q for q in statements if q.lstrip().startswith('INSERT INTO "ap_invoice_staging"')]
        self.assertEqual(len(inserts), 1)
        # The values the intake gave (and Odoo does not compute again) are those the computations give
        # for the same values.
        probe = staging.new({name: staging[name] for name in ("amount_gross", "due_date", "partner_id",
                                                              "platform_id", "company_id")})  # fmt: skip
        self.assertEqual(probe.priority, staging.priority)
        self.assertEqual(staging.line_ids.new({"staging_id": staging.id}).company_id, staging.company_id)

    def test_staging_reference_follows_the_sequence_configuration(self):
        """The reference comes from the process's cached sequence, as next_by_code would choose it: a
        company's own sequence of the code once created, the shared one again once it is archived."""
        year = str(fields.Date.today().year)
        self.assertTrue(self.stage(doc_id="inv_seq_1").name.startswith(f"APS/{year}/"))
        own = self.env["ir.sequence"].create({
            "name": "Staging references of the company", "code": "ap.invoice.staging", "prefix": "CO-STG/",
            "padding": 4, "company_id": self.env.company.id,
        })  # fmt: skip
        self.assertEqual(self.stage(doc_id="inv_seq_2").name, "CO-STG/0001")
        self.assertEqual(self.stage(doc_id="inv_seq_3").name, "CO-STG/0002")
        own.write({"prefix": "CO2-STG/"})  # not a change of which sequence: read again by _next anyway
        self.assertEqual(self.stage(doc_id="inv_seq_4").name, "CO2-STG/0003")
        own.active = False
        self.assertTrue(self.stage(doc_id="inv_seq_5").name.startswith(f"APS/{year}/"))
        own.active = True
        own.unlink()
        self.assertTrue(self.stage(doc_id="inv_seq_6").name.startswith(f"APS/{year}/"))

    def test_outbox_priority_across_documents_order_within(self):
        self.Rule.create({"name": "High value", "rule_type": "amount", "amount_min": 1000, "points": 50})
        low = self.stage(doc_id="inv_low")
        high = self.big("inv_high3")
        (low | high)._process()
        Outbox = self.env["ap.sync.outbox"]
        low._enqueue_erp_status("posted")
        messages = Outbox.search([("staging_id", "in", (low | high).ids)], order="id")
        self.assertEqual(messages.mapped("priority"), [0, 50, 0])
        claimed = Outbox._claim(limit=10)
        mine = claimed.filtered(lambda m: m.staging_id in (low | high))
        self.assertEqual(mine.mapped("staging_id"), high | low, "high first; low's second message waits")
        self.assertEqual(mine[0].staging_id, high)
        self.assertNotIn(messages[2], claimed, "per-document order: the later status waits for the first")

    def test_pull_orders_platforms_by_priority(self):
        self.Rule.create({"name": "Platform B first", "rule_type": "platform", "platform_id": self.platform_b.id,
                          "points": 10})  # fmt: skip
        self.assertEqual(self.platform_b.priority, 10)
        platforms = self.env["ap.platform"].search(
            [("id", "in", (self.platform | self.platform_b).ids)], order="priority desc, sequence, id"
        )
        self.assertEqual(platforms[0], self.platform_b)

    # ------------------------------------------------------------------ policies and SLA
    def policy(self, domain, **values):
        policy = self.Policy.search([("domain", "=", domain), ("company_id", "=", self.company_a.id)])
        policy = policy or self.Policy.create({"domain": domain, "company_id": self.company_a.id})
        policy.write(values)
        return policy

    def test_batch_policy_holds_outbox_and_processing(self):
        policy = self.policy("payment_status", mode="batch", batch_type="window", window_start=22, window_end=6,
                             tz="UTC")  # fmt: skip
        noon = fields.Datetime.to_datetime("2026-11-02 12:00:00")
        self.assertEqual(policy._next_opening(noon), fields.Datetime.to_datetime("2026-11-02 22:00:00"))
        self.assertIsNone(policy._next_opening(fields.Datetime.to_datetime("2026-11-02 23:30:00")))
        self.assertIsNone(policy._next_opening(fields.Datetime.to_datetime("2026-11-03 05:00:00")))
        interval = self.policy("vendor_master", mode="batch", batch_type="interval", interval_minutes=60)
        self.assertIsNone(interval._next_opening(fields.Datetime.to_datetime("2026-11-02 12:05:00")))
        self.assertEqual(interval._next_opening(fields.Datetime.to_datetime("2026-11-02 12:30:00")),
                         fields.Datetime.to_datetime("2026-11-02 13:00:00"))  # fmt: skip
        # A payment status outside the window waits for it; a bill status (realtime domain) does not.
        policy.write(
            {
                "window_start": (fields.Datetime.now().hour + 2) % 24,
                "window_end": (fields.Datetime.now().hour + 3) % 24,
            }
        )
        staging = self.stage(doc_id="inv_batch")
        staging._process()
        staging._enqueue_erp_status("paid")
        sent, paid = self.env["ap.sync.outbox"].search([("staging_id", "=", staging.id)], order="id")
        self.assertEqual((sent.sync_domain, paid.sync_domain), ("approval_status", "payment_status"))
        self.assertFalse(sent.next_attempt_at)
        self.assertGreater(paid.next_attempt_at, fields.Datetime.now())
        # Approved invoices in a closed batch window: the scheduled processing leaves them.
        hour = fields.Datetime.now().hour
        self.policy("approved_invoices", mode="batch", batch_type="window", tz="UTC",
                    window_start=(hour + 2) % 24, window_end=(hour + 3) % 24)  # fmt: skip
        held = self.big("inv_held", amount="777")
        self.assertNotIn(held, self.env["ap.invoice.staging"]._claim(limit=100))
        held.action_process()
        self.assertFalse(held.exception_reason)
        self.assertEqual(held.state, "bill_created", "a person may still process it now")

    def test_sla_breach_opens_one_exception_then_resolves(self):
        policy = self.policy("approved_invoices", mode="realtime", sla_minutes=15)
        late = [self.stage(doc_id=f"inv_late_{i}") for i in range(3)]
        self.env.cr.execute(
            "UPDATE ap_invoice_staging SET create_date = now() at time zone 'utc' - interval '1 hour' WHERE id IN %s",
            [tuple(s.id for s in late)],
        )
        self.env["ap.invoice.staging"].invalidate_model(["create_date"])
        self.Policy._cron_check_sla()
        self.Policy._cron_check_sla()
        self.assertTrue(policy.breached)
        self.assertEqual(policy.breach_count, 3)
        items = self.env["ap.sync.exception"].search([("policy_id", "=", policy.id)])
        self.assertEqual(len(items), 1, "one exception for the breach, never one per record")
        self.assertEqual(items.exception_type, "sla_breach")
        self.assertEqual(items.occurrences, 2)
        self.assertEqual(len(items.activity_ids), 1)
        overview = self.env["ap.sync.dashboard"].get_dashboard_data()["operations"]
        row = next(p for p in overview["policies"] if p["key"] == policy.id)
        self.assertTrue(row["breached"])
        self.assertEqual(self.env[row["model"]].search_count(row["domain"]), 3)
        for staging in late:
            staging._process()
        self.Policy._cron_check_sla()
        self.assertFalse(policy.breached)
        self.assertEqual(items.state, "resolved")

    def test_one_open_operational_item_per_platform_and_type(self):
        Exception_ = self.env["ap.sync.exception"]
        first = Exception_._raise_operational(
            "reconciliation", "A differs", self.company_a, platform=self.platform
        )
        again = Exception_._raise_operational(
            "reconciliation", "A still differs", self.company_a, platform=self.platform
        )
        other = Exception_._raise_operational(
            "reconciliation", "B differs", self.company_b, platform=self.platform_b
        )
        self.assertEqual(first, again)
        self.assertEqual(first.occurrences, 2)
        self.assertNotEqual(first, other)
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.env.cr.savepoint():
            Exception_.sudo().create({"exception_type": "reconciliation", "platform_id": self.platform.id,
                                      "company_id": self.company_a.id, "description": "twin"})  # fmt: skip

    # ------------------------------------------------------------------ metrics
    def test_metrics_stamped_and_reported(self):
        yesterday = (fields.Datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        staging = self.stage(
            doc_id="inv_metrics",
            issue_date=str(fields.Date.today() - timedelta(days=4)),
            approval={"status": "approved", "approved_at": yesterday},
        )
        staging._process()
        self.assertTrue(staging.bill_created_at)
        staging.move_id.invoice_date = staging.issue_date
        staging.move_id.with_user(self.ap_user_a).action_post()  # a person posts (the system user never does)
        self.assertEqual(staging.state, "posted")
        self.assertTrue(staging.posted_at)
        self.assertTrue(staging.approved_on_platform_at, "approval.approved_at parsed")
        self.assertAlmostEqual(staging.cycle_approved_to_posted, 24, delta=0.1)
        self.assertAlmostEqual(staging.posting_delay_days, 4, delta=1)
        unknown = self.stage(doc_id="inv_unknown", supplier={"external_id": "V-NONE", "name": "Nobody Ltd"})
        unknown._process()
        self.assertEqual(unknown.match_exception_pct, 100)
        # The same message delivered twice: a duplicate prevented (sync log outcome "duplicate").
        self.env["ap.sync.log"]._log_call(platform=self.platform, direction="inbound", method="POST",
                                          endpoint="/webhook", http_status=200, outcome="duplicate")  # fmt: skip
        self.env.flush_all()
        Metric = self.env["ap.sync.metric"]
        kinds = dict(Metric._read_group([("platform_id", "=", self.platform.id)], ["kind"], ["__count"]))
        self.assertEqual(kinds["posted"], 1)
        self.assertGreaterEqual(kinds["received"], 2)
        self.assertEqual(kinds["match_exception"], 1)
        self.assertGreaterEqual(kinds["duplicate_prevented"], 1)
        [(avg,)] = Metric._read_group([("staging_id", "=", staging.id), ("kind", "=", "posted")], [],
                                      ["posting_delay_days:avg"])  # fmt: skip
        self.assertAlmostEqual(avg, staging.posting_delay_days, places=2)
        metrics = (
            self.env["ap.sync.dashboard"]
            .with_context(ap_sync_period_days=7)
            .get_dashboard_data()["operations"]["metrics"]
        )
        self.assertEqual(len(metrics["throughput"]), 7)
        self.assertEqual(sum(d["posted"] for d in metrics["throughput"]), 1)
        row = next(r for r in metrics["by_platform"] if r["id"] == self.platform.id)
        self.assertEqual(row["posted"], 1)
        self.assertEqual(row["match_rate"], round(100.0 / row["received"], 1))
        self.assertTrue(metrics["by_company"] and metrics["by_vendor"])
        # An AP user of the company sees the same figures (access rights and record rules).
        as_user = self.env["ap.sync.dashboard"].with_user(self.ap_user_a).get_dashboard_data()["operations"]
        self.assertIn(self.platform.id, [r["id"] for r in as_user["metrics"]["by_platform"]])
        # The views of the metrics load (graph and pivot).
        for view_type in ("graph", "pivot"):
            self.env["ap.sync.metric"].get_views([(False, view_type)])

    def test_payment_status_lag(self):
        staging = self.stage(doc_id="inv_lag")
        staging._process()
        staging._enqueue_erp_status("paid")
        message = self.env["ap.sync.outbox"].search(
            [("staging_id", "=", staging.id), ("status", "=", "paid")]
        )
        message.sudo().write({"state": "done", "done_at": message.create_date + timedelta(minutes=3)})
        self.env.flush_all()
        [(lag,)] = self.env["ap.sync.metric"]._read_group(
            [("staging_id", "=", staging.id), ("kind", "=", "payment_status")], [], ["lag_minutes:avg"]
        )
        self.assertAlmostEqual(lag, 3, places=1)

    def test_runbooks_sections_and_route(self):
        text = (Path(__file__).resolve().parents[1] / "docs" / "runbooks.md").read_text()
        for title in RUNBOOK_SECTIONS:
            self.assertIn(f"## {title}", text)
        for section in text.split("\n## ")[1:]:
            for part in ("Symptoms", "Fix", "Verify"):
                self.assertIn(f"**{part}", section, section.splitlines()[0])
        self.assertEqual(self.env["ap.sync.dashboard"].get_dashboard_data()["operations"]["runbooks_url"],
                         "/ap_sync/runbooks")  # fmt: skip


@tagged("post_install", "-at_install")
class TestReconciliation(ReferencePlatformMixin, BillPipelineCase):
    def test_differences_actions_and_daily_exception(self):
        today = fields.Date.today()
        billed_ok = self.stage(doc_id="inv_r1", number="R-1")
        billed_ok._process()
        unack = self.stage(doc_id="inv_r2", number="R-2", lines=[{"quantity": "2", "unit_price": "40"}])
        unack._process()
        other = self.stage(doc_id="inv_r3", number="R-3", lines=[{"quantity": "3", "unit_price": "7"}])
        Outbox = self.env["ap.sync.outbox"].sudo()
        Outbox.search([("staging_id", "=", billed_ok.id)]).write(
            {"state": "done", "done_at": fields.Datetime.now()}
        )
        Outbox.search([("staging_id", "=", unack.id)]).write({"state": "dead"})
        # Platform side: r1 and r2 as in Odoo, r3 with another amount, r4 approved but never received, r5 pending.
        self.server.add_invoice(make_invoice(doc_id="inv_r1", number="R-1"))
        self.server.add_invoice(
            make_invoice(doc_id="inv_r2", number="R-2", lines=[{"quantity": "2", "unit_price": "40"}])
        )
        self.server.add_invoice(make_invoice(doc_id="inv_r3", lines=[{"quantity": "3", "unit_price": "8"}]))
        self.server.add_invoice(make_invoice(doc_id="inv_r4", number="R-4"))
        self.server.add_invoice(make_invoice(doc_id="inv_r5", approval_status="pending"))
        Reconciliation = self.env["ap.sync.reconciliation"]
        for _run in range(10):  # one platform per call (the demo's too), until none is left today
            if not Reconciliation._cron_reconcile():
                break
        record = Reconciliation.search([("platform_id", "=", self.platform.id), ("origin", "=", "cron")])
        self.assertEqual(record.state, "differences", record.error)
        self.assertEqual(record.platform_summary["approved"]["count"], 4)
        self.assertEqual(record.platform_summary["pending"]["count"], 1)
        self.assertEqual(record.odoo_summary["bill_created"]["count"], 2)
        self.assertEqual(record.odoo_summary["received"]["count"], 1)
        lines = {line.kind: line for line in record.line_ids}
        self.assertEqual(set(lines), {"missing_in_odoo", "not_acknowledged", "amount_differs"})
        self.assertEqual(lines["missing_in_odoo"].document_id, "inv_r4")
        self.assertEqual(lines["not_acknowledged"].staging_id, unack)
        self.assertEqual(lines["amount_differs"].staging_id, other)
        self.assertEqual(
            (lines["amount_differs"].platform_amount, lines["amount_differs"].odoo_amount), (29.04, 25.41)
        )
        listing = [r for r in self.server.requests_log if r["path"] == "/invoices"]
        self.assertTrue(listing and "status" not in listing[0]["query"], "every status is listed")
        items = self.env["ap.sync.exception"].search([("exception_type", "=", "reconciliation")])
        self.assertEqual(len(items), 1)
        self.assertEqual(items.reconciliation_id, record)
        self.assertIn("1 approved on the platform but not in Odoo", items.description)
        # A second run the same day changes nothing; a manual rerun keeps the ONE exception.
        Reconciliation._cron_reconcile()
        rerun = Reconciliation.create({"platform_id": self.platform.id, "date_from": today - timedelta(days=1),
                                       "date_to": today})  # fmt: skip
        rerun.action_run_and_report()
        self.assertEqual(
            len(self.env["ap.sync.exception"].search([("exception_type", "=", "reconciliation")])), 1
        )
        # The actions: pull the missing document, resend the status.
        rerun.with_user(self.manager).action_pull_missing()
        self.assertTrue(self.env["ap.invoice.staging"].search([("document_id", "=", "inv_r4")]))
        rerun.with_user(self.manager).action_resend_statuses()
        dead = Outbox.search([("staging_id", "=", unack.id)])
        self.assertEqual(set(dead.mapped("state")), {"pending"}, "replayed")
        self.assertEqual(
            set(rerun.line_ids.filtered(lambda line: line.kind != "amount_differs").mapped("state")), {"done"}
        )

    def test_balanced_resolves_and_failure_is_reported(self):
        staging = self.stage(doc_id="inv_b1")
        staging._process()
        self.env["ap.sync.outbox"].sudo().search([("staging_id", "=", staging.id)]).write({"state": "done"})
        self.server.add_invoice(make_invoice(doc_id="inv_b1"))
        record = self.env["ap.sync.reconciliation"].create({"platform_id": self.platform.id})
        record.action_run_and_report()
        self.assertEqual(record.state, "balanced")
        self.assertFalse(record.line_ids)
        self.server.fail_next(status=500, path_prefix="/invoices")
        failed = self.env["ap.sync.reconciliation"].create({"platform_id": self.platform.id})
        failed.action_run_and_report()
        self.assertEqual(failed.state, "failed")
        self.assertIn("500", failed.error)
