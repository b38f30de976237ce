"""Governance (issue 14): protected evidence, posting gate, segregation of duties, audit pack,
environment guard (odoo neutralize), shadow mode and rollout scope."""

import ast
import csv
import io
import json
import xmlrpc.client
import zipfile

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.modules.neutralize import neutralize_database
from odoo.tests import HttpCase, new_test_user, tagged

from .common import (
    API_KEY,
    OTHER_SECRET,
    WEBHOOK_SECRET,
    ReferencePlatformMixin,
    make_invoice,
    sign_headers,
)
from .test_processing_bill import BillPipelineCase


class GovernanceCase(BillPipelineCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.accountant = new_test_user(
            cls.env, login="ap_accountant", email="accountant@buyer.example",
            groups="base.group_user,account_ap_sync.group_ap_sync_user", company_id=cls.company_a.id,
        )  # fmt: skip
        cls.approver_user = new_test_user(
            cls.env, login="ap_approver", email=" Dana@Buyer.example ",
            groups="base.group_user,account_ap_sync.group_ap_sync_user", company_id=cls.company_a.id,
        )  # fmt: skip

    def billed(self, number, state="bill_created", **kwargs):
        staging = self.process(self.stage(doc_id=f"gov_{number}", number=number, **kwargs))
        self.assertEqual(staging.state, state, staging.exception_reason)
        return staging, staging.move_id


@tagged("post_install", "-at_install")
class TestPostingGate(GovernanceCase):
    def test_unchanged_bill_posts_and_records_who(self):
        staging, bill = self.billed("GATE-OK")
        bill.with_user(self.accountant).action_post()
        self.assertEqual((bill.state, staging.state), ("posted", "posted"))
        self.assertEqual(bill.ap_posted_by, self.accountant)
        self.assertTrue(bill.ap_posted_on)

    def test_changed_amount_blocks_with_numbers_side_by_side(self):
        _staging, bill = self.billed("GATE-AMT")
        bill.invoice_line_ids[0].price_unit = 13.50  # 10 x 12.50 approved
        with self.assertRaises(UserError) as caught:
            bill.with_user(self.accountant).action_post()
        message = str(caught.exception)
        self.assertIn("Total: bill 163.35 / approved 151.25 EUR", message)
        self.assertIn("Untaxed amount: bill 135.00 / approved 125.00 EUR (difference 10.00", message)
        self.assertEqual(bill.state, "draft")
        self.assertIn("Untaxed amount", bill.ap_gate_problems)

    def test_vendor_bank_account_and_currency_are_checked(self):
        _staging, bill = self.billed("GATE-VBC")
        other = self.env["res.partner"].create(
            {"name": "Other Vendor", "bank_ids": [Command.create({"acc_number": "NL91ABNA0417164300"})]}
        )
        bill.write({"partner_id": other.id})
        bill.partner_bank_id = other.bank_ids
        problems = bill._ap_gate_problems()
        self.assertIn("Vendor: bill Other Vendor / approved Acme Supplies", problems)
        self.assertIn("Vendor bank account: bill NL91ABNA0417164300 / approved NL20INGB0001234567", problems)
        _staging2, bill2 = self.billed("GATE-CUR")
        bill2.currency_id = self.env.ref("base.USD")
        self.assertIn("Currency: bill USD / approved EUR", bill2._ap_gate_problems())
        for move in (bill, bill2):
            with self.assertRaises(UserError):
                move.with_user(self.accountant).action_post()

    def test_tolerance_is_configurable(self):
        _staging, bill = self.billed("GATE-TOL")
        bill.invoice_line_ids[0].price_unit = 12.51  # +0.10 untaxed, +0.12 total
        with self.assertRaises(UserError):
            bill.with_user(self.accountant).action_post()
        self.platform.posting_tolerance = 0.50
        bill.with_user(self.accountant).action_post()
        self.assertEqual(bill.state, "posted")

    def test_manager_override_with_reason_covers_exactly_that_bill(self):
        staging, bill = self.billed("GATE-OVR")
        bill.invoice_line_ids[0].price_unit = 13.00
        with self.assertRaises(AccessError):
            bill.with_user(self.accountant)._ap_override_gate("I say so")
        with self.assertRaises(UserError):
            bill.with_user(self.manager)._ap_override_gate("  ")
        wizard = (
            self.env["ap.posting.override"]
            .with_user(self.manager)
            .create(
                {
                    "move_ids": [Command.set(bill.ids)],
                    "reason": "Freight agreed by phone, credit note follows",
                }
            )
        )
        self.assertIn("Total: bill", wizard.problems)
        wizard.action_confirm()
        self.assertEqual(bill.ap_gate_override_uid, self.manager)
        self.assertIn("Freight agreed by phone", bill.message_ids[0].body)
        self.assertIn("Freight agreed by phone", staging.message_ids[0].body)
        # Changed again after the override: blocked again.
        bill.invoice_line_ids[0].price_unit = 14.00
        with self.assertRaises(UserError):
            bill.with_user(self.accountant).action_post()
        bill.invoice_line_ids[0].price_unit = 13.00
        bill.with_user(self.accountant).action_post()
        self.assertEqual(bill.state, "posted")
        overrides = self.env["ap.audit.pack"]._get_data(bill)["overrides"]
        self.assertEqual(overrides[0]["kind"], "posting_gate")
        self.assertEqual(overrides[0]["reason"], "Freight agreed by phone, credit note follows")

    def test_platform_reapproval_updates_the_evidence(self):
        staging, bill = self.billed("GATE-RE")
        bill.invoice_line_ids[0].price_unit = 13.00
        with self.assertRaises(UserError):
            bill.with_user(self.accountant).action_post()
        data = make_invoice(doc_id="gov_GATE-RE", number="GATE-RE",
                            lines=[{"description": "Copy paper A4", "quantity": "10", "unit_price": "13.00"}],
                            updated_at="2099-01-01T00:00:00Z")  # fmt: skip
        data["approval"]["approved_at"] = "2099-01-01T00:00:00Z"  # approved again, later
        envelope = {"type": "invoice.approved", "data": data}
        self.env["ap.sync.event"]._store(
            self.platform, "m-gate-re-2", envelope, json.dumps(envelope).encode()
        )
        self.assertEqual((staging.amount_net, staging.amount_gross), (130.0, 157.3))
        self.assertIn("Re-approved by the platform", staging.message_ids[0].body)
        bill.with_user(self.accountant).action_post()
        self.assertEqual(bill.state, "posted")

    def test_batch_posting_and_odoo_autopost_are_gated(self):
        _s1, good = self.billed("GATE-B1")
        _s2, bad = self.billed("GATE-B2", lines=[{"quantity": "3", "unit_price": "7.00"}])
        bad.invoice_line_ids[0].quantity = 11
        wizard = (
            self.env["validate.account.move"].with_user(self.accountant)
            .with_context(active_model="account.move", active_ids=(good | bad).ids).create({})
        )  # fmt: skip
        with self.assertRaises(UserError):
            wizard.validate_move()
        self.assertEqual((good.state, bad.state), ("draft", "draft"))
        # Odoo's scheduled auto-post (future-dated entries) goes through the same gate.
        bad.auto_post = "at_date"
        self.env["account.move"]._autopost_draft_entries()
        self.assertEqual(bad.state, "draft")

    def test_platform_auto_post_when_every_check_passed(self):
        self.platform.auto_post = True
        _staging, bill = self.billed("GATE-AUTO", state="posted")
        self.assertEqual(bill.state, "posted")
        self.assertEqual(bill.ap_posted_by.id, self.env.uid)


@tagged("post_install", "-at_install")
class TestSegregationOfDuties(GovernanceCase):
    def test_approver_cannot_post_someone_else_can(self):
        _staging, bill = self.billed("SOD-1")
        with self.assertRaises(UserError) as caught:
            bill.with_user(self.approver_user).action_post()
        self.assertIn("segregation of duties", str(caught.exception))
        bill.with_user(self.accountant).action_post()
        self.assertEqual(bill.state, "posted")

    def test_integration_user_never_posts_by_hand(self):
        _staging, bill = self.billed("SOD-2")
        with self.assertRaises(UserError) as caught:
            bill.action_post()  # the system user, as crons and webhooks run
        self.assertIn("integration user", str(caught.exception))
        integration = new_test_user(self.env, login="ap_integration", groups="account.group_account_invoice")
        self.platform.integration_user_id = integration
        with self.assertRaises(UserError):
            bill.with_user(integration).action_post()
        self.assertEqual(bill.state, "draft")

    def test_integration_auto_post_refused_when_a_check_fails(self):
        self.platform.auto_post = True
        _staging, bill = self.billed("SOD-3", state="posted")
        bill.button_draft()
        bill.invoice_line_ids[0].price_unit = 20
        with self.assertRaises(UserError):
            bill.with_context(ap_sync_auto_post=True).action_post()

    def test_off_per_platform(self):
        self.platform.segregation_of_duties = False
        _staging, bill = self.billed("SOD-4")
        bill.with_user(self.approver_user).action_post()
        self.assertEqual(bill.state, "posted")


@tagged("post_install", "-at_install")
class TestProtectedEvidence(GovernanceCase, HttpCase):
    """Over XML-RPC, as an AP user and as a manager: nothing of the evidence can be written."""

    def rpc(self, user, model, method, *args, **kwargs):
        uid = self.xmlrpc_common.authenticate(self.env.cr.dbname, user.login, user.login, {})
        return self.xmlrpc_object.execute_kw(
            self.env.cr.dbname, uid, user.login, model, method, list(args), kwargs
        )

    def test_staging_evidence_refused_over_rpc(self):
        staging, bill = self.billed("PROT-1")
        forged = [
            {"state": "posted"}, {"move_id": False}, {"document_sha256": "0" * 64},
            {"approvers": "Mallory / mallory@evil.example"}, {"approved_at": "2026-01-01T00:00:00Z"},
            {"approval_status": "approved"}, {"amount_gross": 1.0}, {"partner_id": self.manager.partner_id.id},
        ]  # fmt: skip
        for user in (self.ap_user_a, self.manager):
            for values in forged:
                with self.assertRaises(xmlrpc.client.Fault, msg=f"{user.login} {values}") as caught:
                    self.rpc(user, "ap.invoice.staging", "write", [staging.id], values)
                self.assertIn("set by the module only", caught.exception.faultString)
            for values in ({"ap_approvers": "x"}, {"ap_staging_id": False}, {"ap_gate_override_reason": "x"}):
                with self.assertRaises(xmlrpc.client.Fault, msg=f"{user.login} {values}"):
                    self.rpc(user, "account.move", "write", [bill.id], values)
        self.assertEqual((staging.state, staging.move_id), ("bill_created", bill))
        self.assertIn("dana@buyer.example", staging.approvers)
        # The chatter stays open to people.
        self.rpc(
            self.ap_user_a, "ap.invoice.staging", "message_post", [staging.id], body="Checked with the vendor"
        )

    def test_edited_bill_action_post_by_rpc_fails_unchanged_passes(self):
        _s1, edited = self.billed("PROT-RPC-1")
        _s2, unchanged = self.billed("PROT-RPC-2", lines=[{"quantity": "3", "unit_price": "7.00"}])
        line = edited.invoice_line_ids[0]
        self.rpc(self.accountant, "account.move", "write", [edited.id],
                 {"invoice_line_ids": [(1, line.id, {"price_unit": 99.0})]})  # fmt: skip
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.rpc(self.accountant, "account.move", "action_post", [edited.id])
        self.assertIn("differs from the document approved", caught.exception.faultString)
        self.rpc(self.accountant, "account.move", "action_post", [unchanged.id])
        self.assertEqual((edited.state, unchanged.state), ("draft", "posted"))

    def test_every_state_change_goes_through_the_state_map(self):
        staging, _bill = self.billed("PROT-MAP")
        with self.assertRaises(UserError):
            staging.write({"state": "received"})  # even the module's own code, outside the state map
        staging._set_state("posted")
        self.assertEqual(staging.state, "posted")

    def test_exception_closing_fields_refused_over_rpc(self):
        staging = self.process(self.stage(doc_id="gov_prot_exc", number="PROT-EXC",
                                          supplier={"external_id": "V-UNKNOWN", "name": "Nobody BV"}))  # fmt: skip
        item = self.env["ap.sync.exception"].search([("staging_id", "=", staging.id)])
        self.assertEqual(item.state, "open")
        for user in (self.ap_user_a, self.manager):
            for values in ({"state": "resolved"}, {"resolution": "done"}, {"resolved_by": user.id},
                           {"resolved_on": "2026-01-01 00:00:00"}):  # fmt: skip
                with self.assertRaises(xmlrpc.client.Fault, msg=f"{user.login} {values}"):
                    self.rpc(user, "ap.sync.exception", "write", [item.id], values)
        item.with_user(self.manager)._do_ignore("Test vendor, never paid")
        self.assertEqual(item.state, "ignored")
        with self.assertRaises(xmlrpc.client.Fault):
            self.rpc(self.manager, "ap.sync.exception", "write", [item.id], {"state": "open"})


@tagged("post_install", "-at_install")
class TestEnvironmentGuard(ReferencePlatformMixin, GovernanceCase, HttpCase):
    def post_webhook(self, data, secret=WEBHOOK_SECRET, webhook_id="msg_guard_1"):
        body = json.dumps(
            {"type": "invoice.approved", "timestamp": "2026-11-02T10:15:00Z", "data": data}
        ).encode()
        headers = {"Content-Type": "application/json", **sign_headers(secret, body, webhook_id=webhook_id)}
        response = self.opener.post(self.base_url() + "/ap_sync/webhook/test_a", data=body, headers=headers,
                                    timeout=30)  # fmt: skip
        return response.status_code, response.json()

    def connection_check(self):
        return self.platform.with_user(self.manager).action_test_connection()["params"]

    def test_neutralized_copy_answers_503_and_calls_nothing(self):
        self.assertEqual(self.connection_check()["type"], "success")
        self.assertEqual(len(self.server.requests_log), 1)
        self.server.clear()
        # What `odoo neutralize` runs: the neutralize.sql of every installed module.
        neutralize_database(self.env.cr)
        self.env.invalidate_all()
        self.assertTrue(self.platform.neutralized)
        self.assertTrue(self.platform._is_database_neutralized())
        self.assertFalse(
            self.env["ap.platform.secret"].sudo().search([("platform_id", "=", self.platform.id)])
        )
        events, logs = self.env["ap.sync.event"].search_count([]), self.env["ap.sync.log"].search_count([])
        status, answer = self.post_webhook(make_invoice(doc_id="inv_neutral"))
        self.assertEqual((status, answer), (503, {"error": "neutralized"}))
        self.assertEqual(self.env["ap.sync.event"].search_count([]), events, "nothing stored")
        self.assertEqual(self.env["ap.sync.log"].search_count([]), logs, "nothing stored")
        params = self.connection_check()
        self.assertEqual(params["type"], "danger")
        self.assertIn("neutralized", params["message"])
        self.assertEqual(self.server.requests_log, [], "no call")
        # Pending outbox messages are held, never sent.
        message = self.env["ap.sync.outbox"]._enqueue(
            self.platform, "erp_status", "POST", "/invoices/x/erp-status", {"status": "posted"}, "invoice:x"
        )
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual((message.state, message.held, message.attempts), ("pending", True, 0))
        self.assertEqual(self.server.requests_log, [])

        # Re-enable: an administrator, new credentials, and only a sandbox from a neutralized database.
        Wizard = self.env["ap.platform.reenable"]
        with self.assertRaises(UserError):
            self.platform.with_user(self.manager)._reenable("sandbox", "k", OTHER_SECRET)
        admin = self.env.ref("base.user_admin")
        with self.assertRaises(UserError):
            Wizard.with_user(admin).create(
                {"platform_id": self.platform.id, "environment": "production", "api_key": API_KEY,
                 "webhook_secret": OTHER_SECRET}
            ).action_confirm()  # fmt: skip
        Wizard.with_user(admin).create(
            {"platform_id": self.platform.id, "environment": "sandbox", "api_key": API_KEY,
             "webhook_secret": OTHER_SECRET}
        ).action_confirm()  # fmt: skip
        self.assertFalse(self.platform.neutralized)
        self.assertEqual(self.post_webhook(make_invoice(doc_id="inv_old"), webhook_id="m-old")[0], 401)
        self.assertEqual(self.post_webhook(make_invoice(doc_id="inv_new"), OTHER_SECRET, "m-new")[0], 202)
        self.assertEqual(self.connection_check()["type"], "success")
        self.assertFalse(message.held)

    def test_archived_platform_holds_its_outbox_until_restored(self):
        message = self.env["ap.sync.outbox"]._enqueue(
            self.platform, "erp_status", "POST", "/invoices/x/erp-status", {"status": "posted"}, "invoice:x"
        )
        self.platform.action_archive()
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual((message.state, message.held, message.attempts), ("pending", True, 0))
        self.assertIn("archived", message.last_error)
        self.assertEqual(self.server.requests_log, [], "no call to an archived platform")
        self.platform.action_unarchive()
        self.assertEqual((message.held, message.next_attempt_at), (False, False))
        self.env["ap.sync.outbox"]._cron_deliver()
        self.assertEqual((message.state, message.attempts), ("done", 1))
        self.assertEqual([entry["path"] for entry in self.server.requests_log], ["/invoices/x/erp-status"])

    def test_held_backlog_does_not_stop_the_other_platforms(self):
        """More held messages than a claimed group, ahead in the queue: the same run holds them all and
        still delivers the other platform's message (a run that stopped at a group of held messages
        would deliver nothing until the whole backlog was held, one group per run)."""
        Outbox = self.env["ap.sync.outbox"]
        other = self.env["ap.platform"].create(
            {"name": "Other platform", "code": "test_other", "base_url": self.server.url, "api_key": API_KEY}
        )
        backlog_size = 2 * Outbox._get_group_size() + 1
        backlog = Outbox.browse([
            Outbox._enqueue(self.platform, "erp_status", "POST", f"/invoices/b{n}/erp-status",
                            {"status": "posted"}, f"invoice:b{n}").id
            for n in range(backlog_size)
        ])  # fmt: skip
        message = Outbox._enqueue(
            other, "erp_status", "POST", "/invoices/o/erp-status", {"status": "posted"}, "invoice:o"
        )
        self.platform.action_archive()
        Outbox._cron_deliver()
        self.assertEqual((message.state, message.attempts), ("done", 1))
        self.assertEqual(set(backlog.mapped("held")), {True})
        self.assertEqual(set(backlog.mapped("attempts")), {0})
        self.assertEqual(set(backlog.mapped("state")), {"pending"})
        self.assertEqual([entry["path"] for entry in self.server.requests_log], ["/invoices/o/erp-status"])

    def test_production_platform_refused_from_another_url(self):
        self.platform.sudo().registered_base_url = "https://erp.example.com"
        params = self.connection_check()
        self.assertEqual(params["type"], "danger")
        self.assertIn("registered from https://erp.example.com", params["message"])
        self.assertEqual(self.server.requests_log, [])
        self.platform.environment = "sandbox"
        self.assertEqual(self.connection_check()["type"], "success")
        self.platform.environment = "production"
        self.platform.with_user(self.manager).action_register_base_url()
        self.assertEqual(self.connection_check()["type"], "success")

    def test_neutralized_database_refuses_production_only(self):
        self.env["ir.config_parameter"].sudo().set_param("database.is_neutralized", True)
        self.assertIn("neutralized", self.connection_check()["message"])
        self.platform.environment = "sandbox"
        self.assertEqual(self.connection_check()["type"], "success")


@tagged("post_install", "-at_install")
class TestShadowModeAndScope(ReferencePlatformMixin, GovernanceCase):
    platform_values = {"verify_approval": True, "shadow_mode": True}

    def bills(self):
        return self.env["account.move"].search([("ap_staging_id.platform_id", "=", self.platform.id)])

    def test_shadow_mode_records_and_creates_nothing(self):
        good = self.process(self.stage(doc_id="shadow_ok", number="SH-1"))
        unknown = self.process(self.stage(doc_id="shadow_bad", number="SH-2",
                                          supplier={"external_id": "V-NOPE", "name": "Nobody BV"}))  # fmt: skip
        self.assertEqual((good.state, good.shadow_outcome), ("shadow", "bill"))
        self.assertEqual(good.shadow_result["amount_total"], 151.25)
        self.assertEqual(good.shadow_result["vendor"], "Acme Supplies")
        self.assertIn("total 151.25 EUR", good.shadow_summary)
        self.assertEqual((unknown.state, unknown.shadow_outcome), ("shadow", "exception"))
        self.assertEqual(unknown.shadow_result["exception_type"], "unknown_vendor")
        self.assertFalse(self.bills() | good.move_id)
        self.assertFalse(self.env["ap.sync.exception"].search([("staging_id", "in", (good | unknown).ids)]))
        self.assertFalse(self.env["ap.sync.outbox"].search([("platform_id", "=", self.platform.id)]))
        self.assertEqual(self.server.requests_log, [], "no outbound call")
        self.assertIn("shadow mode", self.platform._get_outbound_block())
        self.assertFalse(
            self.platform._get_outbound_block("pull"), "a pulled platform is read, never written to"
        )
        action = self.env.ref("account_ap_sync.action_ap_shadow_outcomes")
        report = self.env["ap.invoice.staging"].search(ast.literal_eval(action.domain))
        self.assertEqual(report & (good | unknown), good | unknown)
        with self.assertRaisesRegex(AccessError, "Only an AP Sync manager may process rehearsed documents"):
            good.with_user(self.ap_user_a).action_process_shadow_now()
        self.assertEqual(good.state, "shadow")
        # Off: the recorded documents are processed for real.
        self.server.add_invoice(json.loads(good.payload_attachment_id.raw)["data"])
        self.platform.shadow_mode = False
        self.assertEqual((good.state, unknown.state), ("received", "received"))
        self.env["ap.invoice.staging"]._cron_process()
        self.assertEqual(good.state, "bill_created", good.exception_reason)
        self.assertEqual(unknown.state, "exception")
        self.assertIn("/invoices/shadow_ok", [entry["path"] for entry in self.server.requests_log])

    def test_rollout_scope_waits_then_processes(self):
        self.platform.write({"shadow_mode": False, "verify_approval": False, "scope_credit_notes": False,
                             "scope_po_backed": False})  # fmt: skip
        invoice = self.process(self.stage(doc_id="scope_inv", number="SC-1"))
        self.assertEqual(invoice.state, "bill_created", invoice.exception_reason)
        credit = self.process(self.stage(doc_id="scope_cn", number="SC-CN", document_type="credit_note",
                                         preceding_invoice={"number": "SC-1", "issue_date": "2026-11-02"}))  # fmt: skip
        order = self.make_po([(self.service, 5, 100.0)])
        po_backed = self.process(self.stage(doc_id="scope_po", number="SC-PO", purchase_order_ref=order.name,
                                            lines=[{"quantity": "5", "unit_price": "100.00",
                                                    "po_line_ref": f"{order.name}/1"}]))  # fmt: skip
        for record, why in ((credit, "Credit notes"), (po_backed, "PO-backed")):
            self.assertEqual(record.state, "out_of_scope")
            self.assertIn(why, record.state_reason)
            self.assertFalse(record.move_id)
        self.assertFalse(
            self.env["ap.sync.exception"].search([("staging_id", "in", (credit | po_backed).ids)])
        )
        self.assertEqual(self.platform.out_of_scope_count, 2)
        self.platform.scope_credit_notes = True
        self.assertEqual((credit.state, po_backed.state), ("received", "out_of_scope"))
        self.env["ap.invoice.staging"]._cron_process()
        self.assertEqual(credit.state, "bill_created", credit.exception_reason)
        self.platform.write({"scope_po_backed": True, "scope_company_ids": [Command.set(self.company_b.ids)]})
        self.assertEqual(po_backed.state, "out_of_scope", "company A is not live any more")
        self.platform.scope_company_ids = [Command.clear()]
        self.env["ap.invoice.staging"]._cron_process()
        self.assertEqual(po_backed.state, "bill_created", po_backed.exception_reason)


@tagged("post_install", "-at_install")
class TestAuditPack(GovernanceCase):
    def test_pack_json_report_and_period_zip(self):
        staging, bill = self.billed("AUDIT-1", lines=[{"quantity": "2", "unit_price": "10.00"}])
        bill.invoice_line_ids[0].price_unit = 11
        bill.with_user(self.manager)._ap_override_gate("Price list of October applies")
        bill.with_user(self.accountant).action_post()
        attachment = self.env["ap.audit.pack"].with_user(self.accountant)._export_json(bill)
        data = json.loads(attachment.raw)
        self.assertEqual(data["payload"]["sha256_recorded"], staging.payload_sha256)
        self.assertTrue(data["payload"]["verified"])
        self.assertIn('"AUDIT-1"', data["payload"]["as_received"])
        self.assertEqual(data["signed_requests"][0]["payload_sha256"], staging.payload_sha256)
        self.assertEqual(data["approval"]["approvers"][0]["email"], "dana@buyer.example")
        self.assertIn({"step": "create_bill", "result": "passed"}, data["processing"]["steps"])
        notes = [entry["note"] or "" for entry in data["processing"]["history"]]
        self.assertTrue(any("Posting gate overridden" in note for note in notes), notes)
        self.assertEqual([m["status"] for m in data["outbox"]], ["bill_created", "posted"])
        self.assertEqual(data["overrides"][0]["reason"], "Price list of October applies")
        self.assertEqual(data["bill"]["posted_by"], self.accountant.name)
        html = (
            self.env["ir.actions.report"]
            ._render_qweb_html("account_ap_sync.action_report_ap_audit_pack", bill.ids)[0]
            .decode()
        )
        for text in (
            "Audit pack",
            "Price list of October applies",
            staging.payload_sha256,
            "dana@buyer.example",
        ):
            self.assertIn(text, html)
        with self.assertRaises(UserError):
            self.env["ap.audit.pack"].with_user(self.outsider)._export_json(bill)
        wizard = (
            self.env["ap.audit.pack.export"]
            .with_user(self.accountant)
            .create({"company_id": self.company_a.id, "date_from": bill.date, "date_to": bill.date})
        )
        action = wizard.action_export()
        zip_attachment = self.env["ir.attachment"].browse(int(action["url"].split("/")[3].split("?")[0]))
        with zipfile.ZipFile(io.BytesIO(zip_attachment.raw)) as archive:
            names = archive.namelist()
            rows = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode())))
            row = next(r for r in rows if r["bill_id"] == str(bill.id))
            self.assertIn(row["json_file"], names)
            self.assertIn(row["report_file"], names)
            self.assertEqual(row["payload_verified"], "True")
            self.assertIn("Price list of October applies", row["overrides"])
            self.assertEqual(json.loads(archive.read(row["json_file"]))["bill"]["id"], bill.id)
