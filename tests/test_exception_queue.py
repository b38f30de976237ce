"""The accountants' exception queue: resolutions, assignment, dashboard figures and the daily digest."""

from datetime import timedelta

import lxml.html

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .test_processing_bill import BillPipelineCase

UNKNOWN = {"external_id": "V-777", "name": "Brand New Supplies BV"}


@tagged("post_install", "-at_install")
class TestExceptionResolutions(BillPipelineCase):
    def item(self, staging, kind=None, states=("open", "in_progress")):
        domain = [("staging_id", "=", staging.id), ("state", "in", states)]
        if kind:
            domain.append(("exception_type", "=", kind))
        return self.env["ap.sync.exception"].search(domain)

    def resolve(self, exceptions, action, user, **values):
        """Fill the wizard as the person would (Form runs the onchanges and the view's required fields)."""
        Wizard = self.env["ap.sync.exception.resolve"].with_user(user)
        ctx = exceptions.with_user(user).with_context(resolve_action=action).action_open_wizard()["context"]
        with Form(Wizard.with_context(**ctx)) as wizard:
            for name, value in values.items():
                setattr(wizard, name, value)
        return wizard.record.action_confirm()

    def test_link_vendor_and_remember_the_mapping(self):
        staging = self.process(self.stage(doc_id="inv_lv", number="LV-1", supplier=UNKNOWN))
        item = self.item(staging, "unknown_vendor")
        self.assertIn("Brand New Supplies BV", item.explanation)
        self.assertIn('"V-777"', item.payload_text, "the payload as received is shown")
        raw = self.env["ir.attachment"].browse(
            int(item.action_open_payload()["url"].split("/web/content/")[1].split("?")[0])
        )
        self.assertIn(b'"V-777"', raw.raw, "and the raw bytes can be downloaded")
        new_vendor = self.env["res.partner"].create({"name": "Brand New Supplies", "is_company": True})
        action = self.resolve(item, "link_vendor", self.ap_user_a, partner_id=new_vendor, remember=True)
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        self.assertEqual(staging.move_id.partner_id, new_vendor)
        self.assertEqual((action["res_model"], action["res_id"]), ("account.move", staging.move_id.id))
        self.assertEqual((item.state, item.resolved_by), ("resolved", self.ap_user_a))
        self.assertIn("Brand New Supplies linked by", item.resolution)
        self.assertIn("Bill Created", item.resolution)
        self.assertIn("linked by", staging.message_ids[:5].mapped("body")[0] + " ".join(
            staging.message_ids.mapped("body")))  # fmt: skip
        mapping = self.env["ap.sync.mapping"].search([("external_code", "=", "V-777")])
        self.assertEqual((mapping.mapping_type, mapping.partner_id), ("vendor", new_vendor))
        # Next time the platform's vendor id finds the vendor directly.
        again = self.process(
            self.stage(
                doc_id="inv_lv2",
                number="LV-2",
                supplier=UNKNOWN,
                lines=[{"quantity": "3", "unit_price": "9.99"}],
            )
        )
        self.assertEqual(
            (again.state, again.partner_id), ("bill_created", new_vendor), again.exception_reason
        )

    def test_explanation_template_shows_the_values_escaped(self):
        hostile = '<img src=x onerror="alert(1)"> & <b>Evil</b> BV'
        supplier = {"external_id": "V-<x>", "name": hostile, "email": "a&b@evil.example"}
        staging = self.process(self.stage(doc_id="inv_xss", number="XSS-1", supplier=supplier))
        item = self.item(staging, "unknown_vendor")
        html = str(item.explanation)
        self.assertNotIn("<img", html)
        self.assertNotIn("<b>", html)
        self.assertIn("&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;b&gt;Evil&lt;/b&gt; BV", html)
        tree = lxml.html.fragment_fromstring(html, create_parent="div")
        self.assertFalse(tree.xpath("//img | //b | //script"), "no markup of the vendor's reaches the form")
        rows = [
            (row.xpath("string(th)"), row.xpath("string(td)"))
            for row in tree.xpath("//table[contains(@class, 'o_ap_sync_supplier')]//tr")
        ]
        self.assertEqual(rows, [("Supplier name", hostile), ("Platform vendor id", "V-<x>"),
                                ("VAT", "-"), ("IBAN", "-"), ("Email", "a&b@evil.example")])  # fmt: skip
        paragraphs = [p.text_content() for p in tree.xpath("./p")]
        self.assertEqual(paragraphs, [line for line in item.description.splitlines() if line.strip()])
        # A variance: the invoice beside the PO, line by line, the line out of tolerance marked.
        order = self.make_po([(self.service, 5, 100.0)])
        variance = self.process(
            self.stage(doc_id="inv_xv", number="XV-1", purchase_order_ref=order.name,
                       lines=[{"quantity": "2", "unit_price": "120.00", "po_line_ref": f"{order.name}/1",
                               "description": "<i>Consulting</i>"}])
        )  # fmt: skip
        tree = lxml.html.fragment_fromstring(str(self.item(variance, "price_variance").explanation), "div")
        table = tree.xpath("//table[contains(@class, 'o_ap_sync_numbers')]")[0]
        self.assertEqual([th.text_content() for th in table.xpath("./thead/tr/th")], [
            "Line", "Description", "Invoice price", "PO price", "Difference", "Billed now", "Ordered",
            "Received", "Already billed", "Result",
        ])  # fmt: skip
        [row] = table.xpath("./tbody/tr")
        cells = [td.text_content() for td in row.xpath("./td")]
        self.assertEqual(cells[1:6], ["<i>Consulting</i>", "120.0", "100.0", "+20.00 (+20.0%)", "2.0"])
        self.assertEqual(cells[6], "5.0")
        self.assertEqual(row.get("class"), "table-warning")
        self.assertFalse(table.xpath(".//i"))

    def test_remembering_a_vendor_restores_its_archived_mapping(self):
        old_vendor = self.env["res.partner"].create({"name": "Old Supplies", "is_company": True})
        archived = self.env["ap.sync.mapping"].create({
            "mapping_type": "vendor", "external_code": "V-777", "partner_id": old_vendor.id,
            "company_id": self.company_a.id, "platform_id": self.platform.id, "active": False,
        })  # fmt: skip
        staging = self.process(self.stage(doc_id="inv_lva", number="LV-A", supplier=UNKNOWN))
        self.assertEqual(staging.exception_type, "unknown_vendor", "an archived mapping is not used")
        new_vendor = self.env["res.partner"].create({"name": "Brand New Supplies", "is_company": True})
        self.resolve(self.item(staging, "unknown_vendor"), "link_vendor", self.ap_user_a,
                     partner_id=new_vendor, remember=True)  # fmt: skip
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        rows = (
            self.env["ap.sync.mapping"]
            .with_context(active_test=False)
            .search([("external_code", "=", "V-777")])
        )
        self.assertEqual(rows, archived, "the one row of this code, platform and company, not a second one")
        self.assertEqual((archived.active, archived.partner_id), (True, new_vendor))

    def test_link_vendor_that_still_fails_keeps_the_item_open(self):
        staging = self.process(
            self.stage(doc_id="inv_lv3", number="LV-3", supplier=dict(UNKNOWN, iban="GB33BUKB20201555555555"))
        )
        item = self.item(staging, "unknown_vendor")
        self.resolve(item, "link_vendor", self.ap_user_a, partner_id=self.vendor)
        # Linked, but the IBAN is new for that vendor: the next problem opens its own item.
        self.assertEqual(item.state, "resolved")
        self.assertEqual(self.item(staging).exception_type, "bank_account_change")

    def test_add_tax_mapping_is_for_managers_and_releases_every_stopped_invoice(self):
        line = [{"quantity": "1", "unit_price": "50", "tax": {"category": "S", "rate": "9"}}]
        first = self.process(self.stage(doc_id="inv_tm1", number="TM-1", lines=line))
        second = self.process(
            self.stage(doc_id="inv_tm2", number="TM-2", lines=[dict(line[0], unit_price="60")])
        )
        item = self.item(first, "tax_mapping")
        self.assertTrue(self.item(second, "tax_mapping"))
        tax9 = self.env["account.tax"].create(
            {"name": "Test 9%", "amount": 9, "type_tax_use": "purchase", "company_id": self.company_a.id}
        )
        with self.assertRaises(AccessError):
            item.with_user(self.ap_user_a)._do_add_mapping("tax", "S/9", tax9)
        wizard = Form(
            self.env["ap.sync.exception.resolve"].with_user(self.manager).with_context(
                **item.with_context(resolve_action="add_mapping").action_open_wizard()["context"])
        )  # fmt: skip
        self.assertEqual(
            (wizard.mapping_type, wizard.external_code), ("tax", "S/9"), "prefilled from the line"
        )
        wizard.tax_id = tax9
        wizard.save().action_confirm()
        self.assertEqual((first.state, second.state), ("bill_created", "bill_created"))
        self.assertEqual(first.move_id.invoice_line_ids.tax_ids, tax9)
        self.assertFalse(self.item(second))
        self.assertIn("S/9", item.resolution)

    def test_accept_variance_manager_only_with_reason(self):
        order = self.make_po([(self.service, 5, 100.0)])
        staging = self.process(
            self.stage(doc_id="inv_av", number="AV-1", purchase_order_ref=order.name,
                       lines=[{"quantity": "1", "unit_price": "120.00", "po_line_ref": f"{order.name}/1"}])
        )  # fmt: skip
        item = self.item(staging, "price_variance")
        # The form shows the numbers side by side.
        self.assertIn("120.0", item.explanation)
        self.assertIn("100.0", item.explanation)
        self.assertIn("+20.00 (+20.0%)", item.explanation)
        with self.assertRaises(AccessError):
            item.with_user(self.ap_user_a)._do_override("variance", "looks fine")
        with self.assertRaises(UserError):
            item.with_user(self.manager)._do_override("variance", "  ")
        self.resolve(item, "accept_variance", self.manager, reason="New price list from 1 Nov")
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        self.assertEqual((item.state, item.resolved_by), ("resolved", self.manager))
        self.assertIn("New price list from 1 Nov", item.resolution)
        self.assertEqual(staging.variance_override_reason, "New price list from 1 Nov")

    def test_not_a_duplicate(self):
        self.process(self.stage(doc_id="inv_d1", number="DUP-9"))
        twin = self.process(self.stage(doc_id="inv_d2", number="DUP-9"))
        item = self.item(twin, "possible_duplicate")
        with self.assertRaises(AccessError):
            item.with_user(self.ap_user_a)._do_override("duplicate", "different delivery")
        self.resolve(item, "not_duplicate", self.manager, reason="Second delivery, vendor reused the number")
        self.assertEqual(twin.state, "bill_created", twin.exception_reason)
        self.assertEqual(item.state, "resolved")

    def test_reject_to_platform_queues_erp_status(self):
        staging = self.process(self.stage(doc_id="inv_rj", number="RJ-1", supplier=UNKNOWN))
        item = self.item(staging)
        self.resolve(item, "reject", self.ap_user_a, reason="Not our supplier: sent to us by mistake")
        self.assertEqual(staging.state, "rejected")
        message = self.env["ap.sync.outbox"].search(
            [("staging_id", "=", staging.id), ("status", "=", "rejected")]
        )
        self.assertEqual(message.payload["message"], "Not our supplier: sent to us by mistake")
        self.assertEqual(message.path, "/invoices/inv_rj/erp-status")
        self.assertEqual((item.state, item.resolved_by), ("resolved", self.ap_user_a))
        self.assertIn("Rejected to the platform", item.resolution)

    def test_retry_ignore_and_bulk_assign(self):
        # Notices to the assignee (e-mail or inbox), counted as messages: under Odoo's own test runner a
        # mail.mail is "sent" and deleted at once, so counting mail.mail would depend on the runner.
        notices = [
            ("message_type", "=", "user_notification"),
            ("partner_ids", "in", self.ap_user_a.partner_id.ids),
        ]
        before = self.env["mail.message"].search_count(notices)
        staging = self.process(self.stage(doc_id="inv_rt", number="RT-1", approval_status="pending"))
        item = self.item(staging, "approval_not_confirmed")
        self.assertEqual((item.occurrences, len(item.activity_ids)), (1, 1))
        item.with_user(self.ap_user_a).action_retry()
        self.assertEqual((item.state, item.occurrences), ("open", 2), "still stopped: the same item, counted")
        other = self.process(self.stage(doc_id="inv_rt2", number="RT-2", supplier=UNKNOWN))
        both = item | self.item(other)
        assign = Form(self.env["ap.sync.exception.assign"].with_context(active_ids=both.ids))
        assign.user_id = self.ap_user_a
        assign.save().action_confirm()
        self.assertEqual(both.user_id, self.ap_user_a)
        self.assertEqual(both.activity_ids.user_id, self.ap_user_a, "the activity moved to the assignee")
        self.assertEqual(len(both.activity_ids), 2, "one activity each, none added by assigning")
        self.assertEqual(
            self.env["mail.message"].search_count(notices) - before,
            1,
            "one notice for the assignment, none per activity",
        )
        self.assertEqual(self.env["ap.sync.exception"].with_user(self.ap_user_a).search_count(
            [("user_id", "=", self.ap_user_a.id), ("id", "in", both.ids)]), 2)  # fmt: skip
        with self.assertRaises(UserError):
            item.with_user(self.ap_user_a).write({"state": "resolved"})
        with self.assertRaises(UserError):
            item.with_user(self.ap_user_a).write({"resolution": "done", "resolved_by": self.manager.id})
        self.resolve(item, "ignore", self.ap_user_a, reason="Platform re-sends it once approved")
        self.assertEqual((item.state, item.activity_ids.ids), ("ignored", []))
        with self.assertRaises(UserError):
            item._do_ignore("again")

    def test_ignore_change_after_billing_clears_the_flag(self):
        staging = self.process(self.stage(doc_id="inv_ig", number="IG-1"))
        staging._flag("Upstream amount changed after billing")
        item = self.item(staging, "changed_after_billing")
        self.assertTrue(staging.attention_required)
        self.resolve(item, "ignore", self.ap_user_a, reason="Bill corrected by hand")
        self.assertFalse(staging.attention_required)
        self.assertEqual(item.state, "ignored")


@tagged("post_install", "-at_install")
class TestOverviewAndDigest(BillPipelineCase):
    def test_every_figure_opens_the_records_it_counts(self):
        self.process(self.stage(doc_id="inv_ov1", number="OV-1", supplier=UNKNOWN))
        self.process(self.stage(doc_id="inv_ov2", number="OV-2", approval_status="pending"))
        self.process(self.stage(doc_id="inv_ov3", number="OV-3"))
        old = self.process(
            self.stage(
                doc_id="inv_ov4",
                number="OV-4",
                approval_status="pending",
                lines=[{"quantity": "2", "unit_price": "31.00"}],
            )
        )
        self.env.cr.execute(
            "UPDATE ap_sync_exception SET create_date = now() at time zone 'utc' - interval '10 days' "
            "WHERE staging_id = %s", [old.id],
        )  # fmt: skip
        self.env["ap.sync.exception"].invalidate_model(["create_date"])
        Dashboard = self.env["ap.sync.dashboard"].with_user(self.ap_user_a)
        data = Dashboard.get_dashboard_data()
        cards = {card["name"]: card for card in data["platforms"]}
        self.assertNotIn("Test Platform B", cards, "a company-A user sees company A's platforms only")
        card = cards["Test Platform A"]
        figures = card["states"] + card["exceptions_by_type"] + card["exceptions_by_age"] + card["outbox"]
        figures += [card["open_exceptions"], card["failure_rate"]]
        for figure in figures:
            count = self.env[figure["model"]].with_user(self.ap_user_a).search_count(figure["domain"])
            self.assertEqual(count, figure["count"], figure["name"])
        by_type = {figure["key"]: figure["count"] for figure in card["exceptions_by_type"]}
        self.assertEqual((by_type["unknown_vendor"], by_type["approval_not_confirmed"]), (1, 2))
        self.assertEqual(card["open_exceptions"]["count"], 3)
        self.assertEqual([f["count"] for f in card["exceptions_by_age"]], [2, 0, 0, 1])
        states = {figure["key"]: figure["count"] for figure in card["states"]}
        self.assertEqual((states["exception"], states["bill_created"]), (3, 1))
        oldest = card["oldest_unprocessed"]
        self.assertEqual(self.env["ap.invoice.staging"].search(oldest["domain"]).number, "OV-1")

    def test_digest_is_one_message_once_a_day(self):
        Exception_ = self.env["ap.sync.exception"]
        Message = self.env["mail.message"]
        self.env["ir.config_parameter"].sudo().set_param("account_ap_sync.digest_last_sent", "")
        subject = [("subject", "like", "AP Sync:%exceptions waiting")]
        before = Message.search_count(subject)
        self.process(self.stage(doc_id="inv_dg1", number="DG-1", approval_status="pending"))
        self.assertFalse(Exception_._cron_send_digest(older_than_days=3), "nothing old yet: no message")
        for number in ("DG-2", "DG-3", "DG-4"):
            self.process(self.stage(doc_id=f"inv_{number}", number=number, supplier=UNKNOWN))
        self.env.cr.execute(
            "UPDATE ap_sync_exception SET create_date = %s WHERE state = 'open'",
            [fields.Datetime.now() - timedelta(days=5)],
        )
        Exception_.invalidate_model(["create_date"])
        self.assertTrue(Exception_._cron_send_digest(older_than_days=3))
        self.assertFalse(Exception_._cron_send_digest(older_than_days=3), "once a day")
        messages = Message.search(subject)
        self.assertEqual(len(messages) - before, 1, "one message, never a flood")
        digest = messages[:1]
        self.assertIn(self.manager.partner_id, digest.partner_ids)
        self.assertNotIn(self.ap_user_a.partner_id, digest.partner_ids)
        self.assertIn(f"{self.company_a.name} — Unknown vendor: 3", digest.body)
        self.assertIn("/odoo/action-account_ap_sync.action_ap_sync_exception", digest.body)
        self.assertIn(">Open the exception queue</a>", digest.body)
