"""Steps: from a received staging record to a vendor bill (validate, company, vendor, lines, PO,
duplicate, approval, bill).

Each step returns None (passed) or ``(exception type, message)``; the record then stops at that
step, keeps the reason and resumes from it once the cause is fixed (mapping added, vendor linked,
override given). Steps are listed by ``_get_processing_steps`` so that a module can add its own.
"""

import base64
import binascii
import re
from decimal import Decimal

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..exceptions import PlatformCallError
from ..utils.access import check_manager
from .ap_invoice_staging import document_digest, to_decimal
from .ap_invoice_staging_engine import batch_lookup

LINE_MATCH = [
    ("no_po", "No PO"),
    ("matched", "Matched"),
    ("no_po_line", "PO line not found"),
    ("price_variance", "Price variance"),
    ("quantity_variance", "Quantity variance"),
    ("receipt_missing", "Receipt missing"),
]
PUBLIC_EMAIL_DOMAINS = {
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "yahoo.com",
    "icloud.com",
    "gmx.de",
    "proton.me",
}
DUPLICATE_LOCK_NAMESPACE = 74202
UOM_CODES = {"C62": "uom.product_uom_unit", "EA": "uom.product_uom_unit", "H87": "uom.product_uom_unit",
             "HUR": "uom.product_uom_hour", "KGM": "uom.product_uom_kgm", "LTR": "uom.product_uom_litre",
             "DAY": "uom.product_uom_day", "MTR": "uom.product_uom_meter"}  # fmt: skip


def normalize_vat(value):
    return re.sub(r"[^A-Z0-9]", "", (value or "").upper())


def normalize_reference(value):
    return re.sub(r"[^A-Z0-9]", "", (value or "").upper())


def normalize_name(value):
    return " ".join(re.sub(r"[^\w\s]", " ", (value or "").casefold()).split())


class ApInvoiceStaging(models.Model):
    _inherit = "ap.invoice.staging"

    def _step_validate(self):
        """Contract section 3 arithmetic, within the currency's rounding. Returns a problem or None."""
        self.ensure_one()
        problems = self._check_arithmetic()
        return ("arithmetic", "\n".join(problems)) if problems else None

    def _get_rounding(self):
        currency = self.currency_id
        if currency:
            return Decimal(str(currency.rounding))
        return Decimal("0.01")

    def _check_arithmetic(self):
        data = self.document_json or {}
        rounding = self._get_rounding()
        problems = []

        def differs(a, b):
            return a is None or b is None or abs(a - b) > rounding / 2 + Decimal("1e-9")

        lines = data.get("lines") or []
        nets = []
        for index, line in enumerate(lines, start=1):
            quantity, price, net = (
                to_decimal(line.get(key)) for key in ("quantity", "unit_price", "net_amount")
            )
            nets.append(net or Decimal(0))
            if (
                quantity is not None
                and price is not None
                and net is not None
                and differs(quantity * price, net)
            ):
                problems.append(
                    _(
                        "Line %(n)s: quantity %(q)s × unit price %(p)s = %(e)s, but its net amount is %(net)s.",
                        n=index,
                        q=quantity,
                        p=price,
                        e=quantity * price,
                        net=net,
                    )
                )
        totals = data.get("totals") or {}
        net, tax, gross = (to_decimal(totals.get(key)) for key in ("net", "tax", "gross"))
        if differs(sum(nets, Decimal(0)), net):
            problems.append(
                _(
                    "The line nets add up to %(sum)s, but totals.net is %(net)s.",
                    sum=sum(nets, Decimal(0)),
                    net=net,
                )
            )
        for row in data.get("tax_breakdown") or []:
            taxable, rate, amount = (
                to_decimal(row.get(key)) for key in ("taxable_amount", "rate", "tax_amount")
            )
            if taxable is not None and rate is not None and differs(taxable * rate / 100, amount):
                problems.append(
                    _(
                        "Tax %(cat)s %(rate)s%%: %(taxable)s × %(rate)s / 100 = %(expected)s, but tax_amount is %(amount)s.",
                        cat=row.get("category"),
                        rate=rate,
                        taxable=taxable,
                        expected=(taxable * rate / 100).quantize(rounding),
                        amount=amount,
                    )
                )
        if data.get("tax_breakdown"):
            breakdown_tax = sum(
                (to_decimal(r.get("tax_amount")) or Decimal(0)) for r in data["tax_breakdown"]
            )
            if differs(breakdown_tax, tax):
                problems.append(
                    _(
                        "The tax breakdown adds up to %(sum)s, but totals.tax is %(tax)s.",
                        sum=breakdown_tax,
                        tax=tax,
                    )
                )
        if net is not None and tax is not None and differs(net + tax, gross):
            problems.append(
                _(
                    "totals.gross is %(gross)s, but net %(net)s + tax %(tax)s = %(sum)s.",
                    gross=gross,
                    net=net,
                    tax=tax,
                    sum=net + tax,
                )
            )
        for index, line in enumerate(lines, start=1):
            if to_decimal(line.get("quantity")) == 0:
                problems.append(_("Line %s has quantity 0.", index))
        if gross is not None and gross < 0 and self.document_type == "invoice":
            problems.append(
                _("The invoice total %s is negative: the platform should send it as a credit note.", gross)
            )
        if self.due_date and self.issue_date and self.due_date < self.issue_date:
            problems.append(
                _(
                    "The due date %(due)s is before the issue date %(issue)s.",
                    due=self.due_date,
                    issue=self.issue_date,
                )
            )
        return problems

    # ------------------------------------------------------------------ pipeline
    @api.model
    def _get_processing_steps(self):
        return super()._get_processing_steps() + [
            ("route_company", "_step_route_company", "validated"),
            ("match_vendor", "_step_match_vendor", "validated"),
            ("map_lines", "_step_map_lines", "validated"),
            ("match_po", "_step_match_po", "matched"),
            ("check_duplicate", "_step_check_duplicate", "matched"),
            ("verify_approval", "_step_verify_approval", "matched"),
            ("create_bill", "_step_create_bill", "bill_created"),
        ]

    # ------------------------------------------------------------------ overrides (manager, with a reason)
    def _override(self, kind, reason):
        """Let a manager release a duplicate or accept a variance; the reason and the person are kept."""
        check_manager(self.env, _("Only an AP Sync manager may override a check."))
        if not (reason or "").strip():
            raise UserError(_("Write down why: the reason is kept with the record."))
        field = {"duplicate": "duplicate_override", "variance": "variance_override"}[kind]
        for record in self:
            record.sudo().write({f"{field}_reason": reason.strip(), f"{field}_uid": self.env.user.id})
            record.message_post(
                body=_(
                    "Override (%(kind)s) by %(user)s: %(reason)s",
                    kind=kind,
                    user=self.env.user.name,
                    reason=reason.strip(),
                )
            )
        self.sudo().filtered(lambda r: r.state == "exception")._process()
        return True

    def action_open_override(self):
        return {
            "type": "ir.actions.act_window",
            "name": _("Override with a reason"),
            "res_model": "ap.staging.override",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_staging_ids": self.ids,
                "default_kind": self.env.context.get("override_kind"),
            },
        }

    # ------------------------------------------------------------------ company
    def _step_route_company(self):
        Mapping = self.env["ap.sync.mapping"]
        company = self.env["res.company"]
        if self.company_external_id:
            company = Mapping._lookup("company", self.company_external_id, platform=self.platform_id)
            if not company:
                return "unknown_company", _(
                    "No company is mapped to the entity id %s (Configuration > Mappings, type Company).",
                    self.company_external_id,
                )
        elif self.company_vat:
            wanted = normalize_vat(self.company_vat)
            company = (
                self.env["res.company"].sudo().search([]).filtered(lambda c: normalize_vat(c.vat) == wanted)
            )
            if len(company) != 1:
                return "unknown_company", _(
                    "%(count)s companies have the VAT number %(vat)s: the invoice is not routed by guess.",
                    count=len(company),
                    vat=self.company_vat,
                )
        else:
            company = self.platform_id.company_id
        if company != self.company_id:
            self.write({"company_id": company.id})
        return None

    # ------------------------------------------------------------------ vendor
    def _get_vendor_cascade(self):
        """Rules tried in order; the first that finds partners decides (overridable)."""
        return [
            ("mapping", self._vendor_by_mapping),
            ("vat", self._vendor_by_vat),
            ("iban", self._vendor_by_iban),
            ("email domain", self._vendor_by_email_domain),
            ("name", self._vendor_by_name),
        ]

    def _vendor_domain(self):
        return ["|", ("company_id", "=", False), ("company_id", "=", self.company_id.id)]

    def _vendor_by_mapping(self):
        return self.env["ap.sync.mapping"]._lookup(
            "vendor", self.supplier_external_id, company=self.company_id, platform=self.platform_id
        )

    def _vendor_by_vat(self):
        wanted = normalize_vat(self.supplier_vat)
        if not wanted:
            return self.env["res.partner"]
        self.env["res.partner"].flush_model(["vat", "company_id"])
        self.env.cr.execute(
            """SELECT id FROM res_partner
                WHERE regexp_replace(upper(vat), '[^A-Z0-9]', '', 'g') = %s
                  AND (company_id IS NULL OR company_id = %s)""",
            [wanted, self.company_id.id],
        )
        partners = (
            self.env["res.partner"]
            .with_context(active_test=False)
            .browse([r[0] for r in self.env.cr.fetchall()])
        )
        return partners.commercial_partner_id

    def _vendor_by_iban(self):
        wanted = normalize_vat(self.supplier_iban)
        if not wanted:
            return self.env["res.partner"]
        banks = (
            self.env["res.partner.bank"]
            .with_context(active_test=False)
            .sudo()
            .search([("sanitized_acc_number", "=", wanted)] + self._vendor_domain())
        )
        return banks.partner_id.commercial_partner_id

    def _vendor_by_email_domain(self):
        domain = (self.supplier_email or "").rpartition("@")[2].strip().lower()
        if not domain or domain in PUBLIC_EMAIL_DOMAINS:
            return self.env["res.partner"]
        partners = (
            self.env["res.partner"]
            .with_context(active_test=False)
            .search([("email", "=ilike", f"%@{domain}")] + self._vendor_domain())
        )
        return partners.commercial_partner_id

    def _vendor_by_name(self):
        wanted = normalize_name(self.supplier_name)
        if not wanted:
            return self.env["res.partner"]
        partners = (
            self.env["res.partner"]
            .with_context(active_test=False)
            .search(
                [("name", "ilike", wanted.split()[0]), ("is_company", "=", True)] + self._vendor_domain(),
                limit=500,
            )
        )
        return partners.filtered(lambda p: normalize_name(p.name) == wanted).commercial_partner_id

    def _step_match_vendor(self):
        if normalize_vat(self.supplier_vat) and normalize_vat(self.supplier_vat) == normalize_vat(
            self.company_id.vat
        ):
            return "unknown_vendor", _(
                "The supplier VAT %s is the buyer's own VAT number: the capture probably swapped buyer and supplier.",
                self.supplier_vat,
            )
        partner, rule = self.partner_id, self.vendor_match_rule or _("set by a person")
        if not partner:
            for rule, finder in self._get_vendor_cascade():
                found = finder()
                if not found:
                    continue
                active = found.filtered("active")
                if len(active) == 1:
                    partner = active
                    break
                self.write({"vendor_candidate_ids": [(6, 0, found.ids)]})
                if len(active) > 1:
                    return "ambiguous_vendor", _(
                        "%(count)s vendors match by %(rule)s: %(names)s. Link the right one.",
                        count=len(active),
                        rule=rule,
                        names=", ".join(active.mapped("display_name")),
                    )
                return "unknown_vendor", _(
                    "Only archived partners match by %(rule)s (%(names)s): an archived vendor is never used silently.",
                    rule=rule,
                    names=", ".join(found.mapped("display_name")),
                )
            else:
                if not self.platform_id.auto_create_vendor:
                    return "unknown_vendor", _(
                        "No vendor matches %(name)s (id %(ext)s, VAT %(vat)s, IBAN %(iban)s). Link one or add a mapping.",
                        name=self.supplier_name or "-",
                        ext=self.supplier_external_id or "-",
                        vat=self.supplier_vat or "-",
                        iban=self.supplier_iban or "-",
                    )
                partner, rule = self._create_vendor(), _("created automatically")
        values = {"partner_id": partner.id, "vendor_match_rule": rule}
        if self.vendor_candidate_ids:  # read for the whole group at once; cleared only when there are some
            values["vendor_candidate_ids"] = [(5, 0, 0)]
        if self.supplier_iban:
            wanted = normalize_vat(self.supplier_iban)
            bank = partner.commercial_partner_id.with_context(active_test=False).bank_ids.filtered(
                lambda b: b.sanitized_acc_number == wanted
            )
            if not bank:
                self.write(values)
                known = ", ".join(partner.commercial_partner_id.bank_ids.mapped("acc_number")) or _("none")
                return "bank_account_change", _(
                    "The invoice asks payment to IBAN %(iban)s, which is not a bank account of %(vendor)s "
                    "(known: %(known)s). Check it with the vendor before adding it: it is never added silently.",
                    iban=self.supplier_iban,
                    vendor=partner.display_name,
                    known=known,
                )
            values["partner_bank_id"] = bank[:1].id
        self.write(values)
        return None

    def _create_vendor(self):
        partner = self.env["res.partner"].create(
            {
                "name": self.supplier_name or self.supplier_external_id or self.supplier_vat,
                "vat": self.supplier_vat or False,
                "email": self.supplier_email or False,
                "is_company": True,
                "supplier_rank": 1,
                "company_id": self.company_id.id,
            }
        )
        if self.supplier_iban:
            self.env["res.partner.bank"].create({"acc_number": self.supplier_iban, "partner_id": partner.id})
        if self.supplier_external_id:
            self.env["ap.sync.mapping"]._set_vendor(
                self.supplier_external_id, partner, self.company_id, self.platform_id
            )
        self.message_post(body=_("Vendor %s created from the platform's data.", partner.display_name))
        return partner

    # ------------------------------------------------------------------ lines
    def _step_map_lines(self):
        currency = self.currency_id
        if not currency or not currency.active:
            return "currency", _(
                "The currency %s is not active in Odoo: activate it or correct the invoice.",
                self.currency_code,
            )
        problems, by_taxes = [], {}
        for line in self.line_ids:
            result = line._map_values(self)
            if not isinstance(result, dict):
                problems.append(result)
                continue
            (_command, _zero, tax_ids) = result.pop("tax_ids")[0]
            line.write(result)
            by_taxes.setdefault(tuple(tax_ids), []).append(line.id)
        # The taxes are written for all the lines that share them at once (one relation update, not one
        # per line).
        for tax_ids, line_ids in by_taxes.items():
            self.line_ids.browse(line_ids).write({"tax_ids": [(6, 0, list(tax_ids))]})
        if problems:
            kind = problems[0][0]
            return kind, "\n".join(message for _kind, message in problems)
        return None

    # ------------------------------------------------------------------ purchase orders
    def _step_match_po(self):
        refs = {self.purchase_order_ref} | set(
            self.line_ids.mapped(lambda line: (line.po_line_ref or "").rpartition("/")[0])
        )
        refs.discard("")
        refs.discard(False)
        if not refs:
            self.line_ids.write({"match_status": "no_po"})
            return None
        orders = self.env["purchase.order"]
        for ref in refs:
            order = self.env["purchase.order"].search(
                [("name", "=", ref), ("company_id", "=", self.company_id.id)], limit=1
            )
            if not order:
                elsewhere = self.env["purchase.order"].sudo().search([("name", "=", ref)], limit=1)
                where = _(" (it belongs to %s)", elsewhere.company_id.name) if elsewhere else ""
                return "po_not_found", _(
                    "Purchase order %(ref)s was not found in %(company)s%(where)s.",
                    ref=ref,
                    company=self.company_id.name,
                    where=where,
                )
            if order.partner_id.commercial_partner_id != self.partner_id.commercial_partner_id:
                return "po_not_found", _(
                    "Purchase order %(ref)s is for %(other)s, not %(vendor)s.",
                    ref=ref,
                    other=order.partner_id.display_name,
                    vendor=self.partner_id.display_name,
                )
            if order.state not in ("purchase", "done"):
                return "po_not_found", _(
                    "Purchase order %(ref)s is not confirmed (%(state)s).", ref=ref, state=order.state
                )
            orders |= order
        self.purchase_order_id = orders[:1]
        tolerances = self.partner_id._ap_tolerances(self.company_id)
        problems = []
        for line in self.line_ids:
            problem = line._match_po_line(
                orders, tolerances, check_quantities=self.document_type == "invoice"
            )
            if problem:
                problems.append(problem)
        if problems and not self.variance_override_uid:
            return problems[0][0], "\n".join(message for _kind, message in problems)
        if problems:
            self.message_post(
                body=_(
                    "Variances accepted by %(user)s: %(reason)s",
                    user=self.variance_override_uid.name,
                    reason=self.variance_override_reason,
                )
            )
        return None

    # ------------------------------------------------------------------ duplicates
    def _step_check_duplicate(self):
        if self.duplicate_override_uid:
            return None
        partner = self.partner_id.commercial_partner_id
        reference = normalize_reference(self.number)
        # Serialize the check per (company, vendor, reference): two workers never both pass it.
        self.env.cr.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [DUPLICATE_LOCK_NAMESPACE, f"{self.company_id.id}/{partner.id}/{reference}"],
        )
        fiscal = self.company_id.compute_fiscalyear_dates(self.issue_date or fields.Date.today())
        move_type = "in_refund" if self.document_type == "credit_note" else "in_invoice"
        self.env.flush_all()  # bills and links made earlier in this transaction must be seen by SQL
        # Indexed filters first (company, vendor, type), the normalized reference in SQL: the cost stays
        # flat however many bills the vendor already has.
        self.env.cr.execute(
            """SELECT id FROM account_move
                WHERE move_type = %(type)s AND company_id = %(company)s AND commercial_partner_id = %(partner)s
                  AND state != 'cancel' AND id != %(own)s
                  AND COALESCE(invoice_date, date) BETWEEN %(start)s AND %(end)s
                  AND regexp_replace(upper(COALESCE(ref, '')), '[^A-Z0-9]', '', 'g') = %(ref)s""",
            {"type": move_type, "company": self.company_id.id, "partner": partner.id, "own": self.move_id.id or 0,
             "start": fiscal["date_from"], "end": fiscal["date_to"], "ref": reference},
        )  # fmt: skip
        same_ref = self.env["account.move"].browse([row[0] for row in self.env.cr.fetchall()])
        if same_ref:
            return "possible_duplicate", _(
                "%(vendor)s already has %(bills)s with reference %(ref)s in this fiscal year.",
                vendor=partner.display_name,
                bills=", ".join(same_ref.mapped("display_name")),
                ref=self.number,
            )
        rounding = self.currency_id.rounding or 0.01
        same_amount = self.env["account.move"].search([
            ("move_type", "=", move_type),
            ("company_id", "=", self.company_id.id),
            ("commercial_partner_id", "=", partner.id),
            ("state", "!=", "cancel"),
            ("id", "!=", self.move_id.id),
            ("invoice_date", "=", self.issue_date),
            ("currency_id", "=", self.currency_id.id),
            ("amount_total", ">=", self.amount_gross - rounding / 2),
            ("amount_total", "<=", self.amount_gross + rounding / 2),
        ])  # fmt: skip
        if same_amount:
            return "possible_duplicate", _(
                "%(vendor)s already has %(bills)s for the same amount %(amount)s on the same date.",
                vendor=partner.display_name,
                bills=", ".join(same_amount.mapped("display_name")),
                amount=self.amount_gross,
            )
        self.env.cr.execute(
            """SELECT s.id FROM ap_invoice_staging s JOIN res_partner p ON p.id = s.partner_id
                WHERE s.id != %(own)s AND s.company_id = %(company)s AND p.commercial_partner_id = %(partner)s
                  AND s.document_type = %(doc_type)s AND s.state NOT IN ('cancelled', 'rejected', 'duplicate')
                  AND regexp_replace(upper(COALESCE(s.number, '')), '[^A-Z0-9]', '', 'g') = %(ref)s""",
            {"own": self.id, "company": self.company_id.id, "partner": partner.id,
             "doc_type": self.document_type, "ref": reference},
        )  # fmt: skip
        twins = self.browse([row[0] for row in self.env.cr.fetchall()])
        if twins:
            return "possible_duplicate", _(
                "Another platform document (%(twins)s) carries the same vendor reference %(ref)s.",
                twins=", ".join(twins.mapped("display_name")),
                ref=self.number,
            )
        return None

    # ------------------------------------------------------------------ approval
    @api.model
    def _get_remote_steps(self):
        return dict(super()._get_remote_steps(), verify_approval="_prefetch_approval")

    def _needs_approval_call(self):
        self.ensure_one()
        return (self.approval_status or "").lower() == "approved" and self.platform_id.verify_approval

    def _prefetch_approval(self):
        """Ask the platform about every record of the group at once (``_call_many``, bounded by the
        platform's Max concurrent calls); ``_step_verify_approval`` then reads the answers.

        A call a cron run sent ahead for the record (``_start_remote_calls``) is used when the record
        is unchanged since (same document digest); otherwise the platform is asked now."""
        answers = self.env.cr.cache.setdefault("ap_sync_approval_answers", {})
        ahead = self.env.cr.cache.get("ap_sync_approval_ahead") or {}
        for platform in self.platform_id:
            records = self.filtered(lambda r, p=platform: r.platform_id == p and r._needs_approval_call())
            now = []
            for record in records:
                sent = ahead.pop(record.id, None)
                if sent and sent[2] == record.document_sha256:
                    answers[record.id] = sent[0].results()[sent[1]]
                else:
                    now.append(record)
            calls = {record: platform._get_fetch_document_call(record) for record in now}
            now = [record for record, call in calls.items() if call]  # other providers: in the step
            for record, result in zip(now, platform._call_many([calls[r] for r in now])):
                answers[record.id] = result

    def _start_remote_calls(self):
        """Send the approval checks of these records now, without waiting: the platform answers while
        the cron run works on (``_prefetch_approval`` reads the answers). Only for records whose
        pipeline still goes through the check, and not twice for one record."""
        res = super()._start_remote_calls()
        ahead = self.env.cr.cache.setdefault("ap_sync_approval_ahead", {})
        names = [name for name, _method, _state in self._get_processing_steps()]
        if "verify_approval" not in names:
            return res
        at = names.index("verify_approval")
        for platform in self.platform_id:
            records = self.filtered(
                lambda r, p=platform: r.platform_id == p
                and r.id not in ahead
                and (names.index(r.processing_step) if r.processing_step in names else 0) <= at
                and r._needs_approval_call()
            )
            calls = {record: platform._get_fetch_document_call(record) for record in records}
            records = [record for record, call in calls.items() if call]
            if not records:
                continue
            pending = platform._call_many_start([calls[record] for record in records])
            for position, record in enumerate(records):
                ahead[record.id] = (pending, position, record.document_sha256)
        return res

    @api.model
    def _finish_remote_calls(self):
        res = super()._finish_remote_calls()
        ahead = self.env.cr.cache.pop("ap_sync_approval_ahead", None) or {}
        for pending in {id(sent[0]): sent[0] for sent in ahead.values()}.values():
            pending.results()  # not used, logged all the same
        return res

    @api.model
    def _drop_remote_calls(self):
        res = super()._drop_remote_calls()
        self.env.cr.cache.pop("ap_sync_approval_ahead", None)
        return res

    def _step_verify_approval(self):
        """Approved, and (with the platform's flag) confirmed by the platform just before billing.

        Returns None, ``(type, message)`` to stop at an exception, or ``(type, message, retry_after)``
        when the platform could not answer for now (``PlatformCallError.transient``): a received
        record then waits and is tried again (see ``_retry_later``)."""
        if (self.approval_status or "").lower() != "approved":
            return "approval_not_confirmed", _(
                "The approval status is %s, not approved.", self.approval_status or "-"
            )
        if not self.platform_id.verify_approval:
            return None
        platform = self.platform_id
        result = self.env.cr.cache.get("ap_sync_approval_answers", {}).pop(self.id, None)
        if result is None:
            call = platform._get_fetch_document_call(self)
            if call is None:
                # The provider fetches in its own way (several calls, its own throttling).
                current, problem = platform._fetch_document(self)
                if problem:
                    return "approval_not_confirmed", problem
            else:
                try:
                    result = platform._call(**call)
                except PlatformCallError as exc:
                    result = exc
        if result is not None:
            if isinstance(result, PlatformCallError):
                message = _("The approval could not be confirmed: %s", result.reason)
                if result.transient:
                    return "approval_not_confirmed", message, result.retry_after or True
                return "approval_not_confirmed", message
            current, problem = platform._read_fetched_document(self, result)
            if problem:
                return "approval_not_confirmed", problem
        status = ((current.get("approval") or {}).get("status") or "").lower()
        if status != "approved":
            return "approval_not_confirmed", _(
                "The platform now says the approval status is %s.", status or "-"
            )
        same = document_digest(current) == self.document_sha256 or (
            current.get("updated_at") and current.get("updated_at") == self.platform_updated_at
        )
        if not same:
            return "approval_not_confirmed", _(
                "The invoice changed on the platform since it was received (updated_at %(new)s, received %(old)s).",
                new=current.get("updated_at") or "-",
                old=self.platform_updated_at or "-",
            )
        return None

    def action_verify_approval(self):
        """Server action: check the approval now (the processing uses the same check)."""
        for record in self.sudo():
            problem = record._step_verify_approval()
            if problem:  # a person asked now: a failure for now is shown too, not retried later
                record._set_state("exception", problem[1], step="verify_approval", exception_type=problem[0])
            else:
                record.message_post(body=_("Approval confirmed."))
        return True

    # ------------------------------------------------------------------ bill
    def _get_journal(self):
        return batch_lookup(
            self.env,
            ("journal", self.platform_id.id, self.company_id.id),
            lambda: self.platform_id.journal_id.filtered(lambda j: j.company_id == self.company_id)
            or self.env["account.journal"].search(
                [("type", "=", "purchase"), ("company_id", "=", self.company_id.id)], limit=1
            ),
        )

    def _prepare_bill_values(self):
        move_type = "in_refund" if self.document_type == "credit_note" else "in_invoice"
        values = {
            "move_type": move_type,
            "partner_id": self.partner_id.id,
            "ref": self.number,
            "invoice_date": self.issue_date,
            "currency_id": self.currency_id.id,
            "journal_id": self._get_journal().id,
            "payment_reference": self.payment_reference or False,
            "partner_bank_id": self.partner_bank_id.id or False,
            "ap_staging_id": self.id,
            "invoice_origin": self.purchase_order_id.name or False,
            "invoice_line_ids": [(0, 0, line._prepare_bill_line()) for line in self.line_ids],
        }
        if self.due_date:
            values["invoice_date_due"] = self.due_date
        if self.reversed_move_id:
            values["reversed_entry_id"] = self.reversed_move_id.id
        return values

    def _find_preceding_bill(self):
        partner = self.partner_id.commercial_partner_id
        reference = normalize_reference(self.preceding_invoice_number)
        bills = self.env["account.move"].search([
            ("move_type", "=", "in_invoice"), ("company_id", "=", self.company_id.id),
            ("commercial_partner_id", "=", partner.id), ("state", "!=", "cancel"),
        ]).filtered(lambda m: normalize_reference(m.ref) == reference)  # fmt: skip
        if self.preceding_invoice_date and len(bills) > 1:
            bills = bills.filtered(lambda m: m.invoice_date == self.preceding_invoice_date)
        return bills

    def _step_create_bill(self):
        if self.move_id:
            return None  # idempotent: never a second bill
        if self.document_type == "credit_note":
            if not self.preceding_invoice_number:
                return "preceding_invoice", _(
                    "A credit note must name the invoice it corrects (preceding_invoice)."
                )
            original = self._find_preceding_bill()
            if len(original) != 1:
                return "preceding_invoice", _(
                    "%(count)s bills of %(vendor)s carry the reference %(ref)s: the credit note cannot be linked.",
                    count=len(original),
                    vendor=self.partner_id.display_name,
                    ref=self.preceding_invoice_number,
                )
            self.reversed_move_id = original
        Move = (
            self.env["account.move"]
            .with_company(self.company_id)
            .with_context(
                default_move_type="in_refund" if self.document_type == "credit_note" else "in_invoice"
            )
        )
        move = Move.create(self._prepare_bill_values())
        problem = self._compare_totals(move)
        if problem:
            # Not patched, not kept: the draft goes away and the reason stays on the staging record.
            # (A draft is unlinked rather than rolled back to a savepoint: no subtransaction per bill.)
            move.unlink()
            return "arithmetic", problem
        if (self.document_json or {}).get("attachments"):
            self._copy_attachments(move)
        self.write({"move_id": move.id})
        return None

    def _may_auto_post(self, move):
        return bool(
            self.platform_id.auto_post
            and self.env.user.has_group("account.group_account_invoice")
            and move.state == "draft"
        )

    def _compare_totals(self, move):
        """The bill Odoo computed against the invoice's totals: a difference is flagged, never patched."""
        rounding = Decimal(str(self.currency_id.rounding or 0.01))
        tolerance = rounding * max(
            1, len(self.line_ids)
        )  # per-line tax rounding may differ by one unit per line
        totals = (self.document_json or {}).get("totals") or {}
        expected = {key: to_decimal(totals.get(key)) for key in ("net", "tax", "gross")}
        computed = {
            "net": Decimal(str(move.amount_untaxed)),
            "tax": Decimal(str(move.amount_tax)),
            "gross": Decimal(str(move.amount_total)),
        }
        gaps = [
            _(
                "%(what)s: Odoo computes %(odoo)s, the invoice says %(doc)s",
                what=key,
                odoo=computed[key],
                doc=expected[key],
            )
            for key in ("net", "tax", "gross")
            if expected[key] is not None and abs(computed[key] - expected[key]) > tolerance
        ]
        if gaps:
            return _(
                "The bill would not match the invoice (taxes or lines mapped differently?):\n%s",
                "\n".join(gaps),
            )
        return None

    def _copy_attachments(self, move):
        """The invoice's own files (PDF, XML) onto the bill, from the raw payload."""
        payload = self.payload_attachment_id.sudo()
        if not payload:
            return
        import json

        try:
            data = json.loads(payload.raw or b"{}").get("data") or {}
        except (ValueError, AttributeError):
            return
        attachments = self.env["ir.attachment"]
        for item in data.get("attachments") or []:
            try:
                content = base64.b64decode(item.get("content_base64") or "", validate=True)
            except (binascii.Error, ValueError):
                self.message_post(
                    body=_("Attachment %s is not valid base64: not copied.", item.get("filename"))
                )
                continue
            attachments |= attachments.create({
                "name": item.get("filename") or "invoice",
                "raw": content,
                "mimetype": item.get("mimetype") or False,
                "res_model": "account.move",
                "res_id": move.id,
            })  # fmt: skip
        if attachments:
            move.message_main_attachment_id = attachments[:1]
