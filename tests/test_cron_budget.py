"""Bounded cron runs (issue 11): a run stops at its time budget and resumes; platform calls go out
concurrently within the platform's limit; a cron that keeps failing is seen, once.

The platform is the reference server with a latency on every answer, as a slow platform would be.
"""

import time
from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import config

from .common import API_KEY, ApPlatformServer
from .test_processing_bill import BillPipelineCase

LATENCY = 0.3
LIMIT = 8  # limit_time_real_cron of the budget test, seconds


def max_in_flight(entries, latency):
    """Most requests the server was answering at the same moment (each lasts ``latency``)."""
    starts = sorted(entry["time"] for entry in entries)
    return max(
        (sum(1 for other in starts if start <= other < start + latency * 0.9) for start in starts), default=0
    )


@tagged("post_install", "-at_install")
class TestCronBudget(BillPipelineCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = ApPlatformServer(api_key=API_KEY, latency=LATENCY).start()
        cls.addClassCleanup(cls.server.stop)
        cls.platform.write({"base_url": cls.server.url, "verify_approval": True})
        if "max_concurrent_calls" in cls.platform._fields:
            cls.platform.max_concurrent_calls = 2
        cls.cron = cls.env.ref("account_ap_sync.ir_cron_ap_sync_process")

    def setUp(self):
        super().setUp()
        self.server.clear()

    def stage_approved(self, count, prefix):
        records = self.env["ap.invoice.staging"]
        for index in range(count):
            doc_id, number = f"{prefix}_{index:02d}", f"{prefix.upper()}-{index:02d}"
            # Distinct amounts: the duplicate guard must not see look-alikes.
            lines = [
                {"description": "Copy paper A4", "quantity": "10", "unit_price": f"{12 + index / 100:.2f}"}
            ]
            staging = self.stage(doc_id=doc_id, number=number, lines=lines)
            self.server.add_invoice(staging.document_json)  # the platform still has it, unchanged
            records |= staging
        return records

    def run_cron(self):
        progress = self.env["ir.cron.progress"].create({"cron_id": self.cron.id})
        started = time.monotonic()
        self.env["ap.invoice.staging"].with_context(ir_cron_progress_id=progress.id)._cron_process()
        return time.monotonic() - started, progress

    def triggers(self):
        return self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)])

    def test_the_cron_stops_at_its_budget_and_resumes(self):
        records = self.stage_approved(20, "bud")
        before = self.triggers()
        # An 8 s cron limit with a budget of an eighth of it (1 s). 20 approval checks at 0.3 s each
        # take 3 s even two at a time, with the next group's checks sent while a group is billed:
        # more than the budget. The group read ahead when the budget runs out then has 5.4 s until
        # the cap (0.8 x the limit), room for a machine that bills a group in well over a second (a
        # 4 s limit left 2.2 s, which a loaded CI machine once missed). A group stopped at the cap
        # would rightly be checked again by the next run, and the count of checks below would be off
        # by its records.
        self.env["ir.config_parameter"].sudo().set_param("account_ap_sync.cron_time_budget_ratio", "0.125")
        with patch.dict(config.options, {"limit_time_real_cron": LIMIT, "limit_time_real": 120}):
            elapsed, progress = self.run_cron()
        billed = records.filtered(lambda r: r.state == "bill_created")
        waiting = records.filtered(lambda r: r.state == "received")
        self.assertLess(elapsed, LIMIT, "the run ends within its budget (plus one group), before the limit")
        self.assertTrue(billed, "the run did work")
        self.assertTrue(waiting, "and stopped claiming once its budget was spent")
        self.assertEqual(len(billed) + len(waiting), 20, records.mapped("exception_reason"))
        self.assertEqual((progress.done, progress.remaining), (len(billed), len(waiting)))
        self.assertTrue(self.triggers() - before, "the cron triggered itself to resume")
        # The next runs resume where it stopped: every invoice billed once, none checked twice.
        with patch.dict(config.options, {"limit_time_real_cron": LIMIT, "limit_time_real": 120}):
            for _run in range(10):
                if not records.filtered(lambda r: r.state == "received"):
                    break
                self.run_cron()
        self.assertEqual(set(records.mapped("state")), {"bill_created"})
        self.assertEqual(len(records.move_id), 20)
        gets = [r["path"] for r in self.server.requests_log if r["method"] == "GET"]
        self.assertEqual(len(gets), 20)
        self.assertEqual(len(set(gets)), 20)

    def test_approval_checks_of_a_group_run_concurrently_within_the_limit(self):
        self.platform.max_concurrent_calls = 4
        records = self.stage_approved(8, "conc")
        records._process()
        self.assertEqual(set(records.mapped("state")), {"bill_created"})
        gets = [r for r in self.server.requests_log if r["method"] == "GET"]
        self.assertEqual(len(gets), 8)
        self.assertEqual(max_in_flight(gets, LATENCY), 4, "four at a time, never more")

    def test_calls_started_ahead_share_the_platform_limit(self):
        """Two groups of calls on their way at once (a cron run sends the next group's checks while it
        bills the current one): together never more than the platform's limit in flight, answers in
        order, every call logged once its answers are read."""
        self.platform.max_concurrent_calls = 2
        Log = self.env["ap.sync.log"]
        logs_before = Log.search_count([("platform_id", "=", self.platform.id)])
        groups = [
            [{"method": "GET", "path": f"/invoices/lane_{group}_{n}", "event_type": "test.lane"} for n in range(3)]
            for group in range(2)
        ]  # fmt: skip
        started = time.monotonic()
        pending = [self.platform._call_many_start(calls) for calls in groups]
        self.assertLess(time.monotonic() - started, LATENCY, "starting does not wait for the answers")
        self.assertFalse(pending[0].done(), "the calls are on their way while the caller works on")
        results = [handle.results() for handle in pending]
        self.assertEqual(pending[1].results(), results[1], "answers are read once")
        paths = [[response.url.rsplit("/", 1)[1] for response in group] for group in results]
        self.assertEqual(paths, [[f"lane_{g}_{n}" for n in range(3)] for g in range(2)])
        gets = [r for r in self.server.requests_log if r["method"] == "GET"]
        self.assertEqual(len(gets), 6)
        self.assertEqual(max_in_flight(gets, LATENCY), 2, "two at a time across both groups, never more")
        self.assertEqual(Log.search_count([("platform_id", "=", self.platform.id)]) - logs_before, 6)

    def test_a_check_sent_ahead_is_used_only_for_an_unchanged_record(self):
        """A cron run sends a group's approval checks before it processes the group; the answer is used
        when the record is still the version it was sent for, else the platform is asked again."""
        records = self.stage_approved(3, "ahead")
        Log = self.env["ap.sync.log"]
        logs_before = Log.search_count([("staging_id", "in", records.ids)])
        records._start_remote_calls()
        changed = records[1]
        changed.sudo().write({"document_sha256": "0" * 64})  # another version arrived meanwhile
        records._process()
        records._finish_remote_calls()
        self.assertEqual(set(records.mapped("state")), {"bill_created"}, records.mapped("exception_reason"))
        gets = [r["path"] for r in self.server.requests_log if r["method"] == "GET"]
        self.assertEqual(len(gets), 4, "one check each sent ahead, and the changed record asked again")
        self.assertEqual(gets.count(f"/invoices/{changed.document_id}"), 2)
        self.assertEqual(
            Log.search_count([("staging_id", "in", records.ids)]) - logs_before, 4, "every call logged"
        )
        self.assertFalse(self.env.cr.cache.get("ap_sync_approval_ahead"))

    def test_outbox_sends_documents_concurrently_each_in_order(self):
        self.platform.max_concurrent_calls = 3
        Outbox = self.env["ap.sync.outbox"]
        statuses = ("bill_created", "posted", "paid")
        for status in statuses:
            for doc in range(4):
                Outbox._enqueue(
                    self.platform, "erp_status", "POST", f"/invoices/doc{doc}/erp-status", {"status": status},
                    document_key=f"invoice:doc{doc}", status=status,
                )  # fmt: skip
        for _round in range(10):
            if not Outbox._cron_deliver():
                break
        sent = self.server.erp_status
        self.assertEqual(len(sent), 12)
        for doc in range(4):
            self.assertEqual(
                [e["body"]["status"] for e in sent if e["invoice_id"] == f"doc{doc}"], list(statuses)
            )
        posts = [r for r in self.server.requests_log if r["method"] == "POST"]
        self.assertEqual(max_in_flight(posts, LATENCY), 3)

    def test_a_cron_that_keeps_failing_is_seen_once(self):
        deliver = self.env.ref("account_ap_sync.ir_cron_ap_sync_deliver")
        Exception_ = self.env["ap.sync.exception"]
        # A clean slate (the database may hold the traces of earlier runs).
        Exception_.search([("exception_type", "=", "cron_failure")]).unlink()
        ours = self.env["ir.cron"].browse(self.env["ir.cron"]._ap_sync_cron_ids())
        ours.write({"failure_count": 0, "first_failure_date": False, "active": True})
        self.env["ir.cron.progress"].search([("cron_id", "in", ours.ids)]).unlink()
        deliver.write({"failure_count": 1})
        deliver._ap_sync_check_health()
        self.assertFalse(
            Exception_.search([("exception_type", "=", "cron_failure")]), "one failure is not a pattern"
        )
        for failures in (2, 3, 4):  # Odoo counts each failed run; each run checks
            deliver.write({"failure_count": failures, "first_failure_date": "2026-12-01 08:00:00"})
            deliver._ap_sync_check_health()
        item = Exception_.search([("exception_type", "=", "cron_failure"), ("state", "=", "open")])
        self.assertEqual(len(item), 1)
        self.assertEqual(len(item.activity_ids), 1, "one activity, not one per run")
        self.assertIn(deliver.name, item.description)
        self.assertIn("4 failed runs in a row", item.description)
        # A run killed at the time limit twice in a row counts too (another cron, same item).
        self.cron._ap_sync_check_health(killed_before=2)
        self.assertEqual(len(Exception_.search([("exception_type", "=", "cron_failure")])), 1)
        self.assertEqual(len(item.activity_ids), 1)
        card = self.env["ap.sync.dashboard"].get_dashboard_data()["crons"]
        failing = {row["name"] for row in card if row["failing"]}
        self.assertIn(deliver.name, failing)
        # Clean runs again: the item is resolved by the system.
        deliver.write({"failure_count": 0, "first_failure_date": False})
        self.cron.write({"failure_count": 0})
        deliver._ap_sync_check_health()
        self.assertEqual(item.state, "resolved")
        self.assertFalse(item.activity_ids)
