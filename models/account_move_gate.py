"""Posting gate and segregation of duties on bills made from a platform document.

Every way of posting goes through ``account.move._post`` (the button and ``action_post`` by RPC, the
platform's auto-post, the batch "Confirm entries" wizard, Odoo's scheduled auto-post): there the bill
is compared with its approved document (vendor, vendor bank account, currency, untaxed amount and
total), and the person posting with the document's approvers. A difference blocks posting until an
AP Sync manager overrides it with a written reason (that override covers exactly the bill as it was
then) or the platform sends a new approved version.
"""

import hashlib
import json

from odoo import SUPERUSER_ID, _, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_round

from ..utils.access import check_manager

AUTO_POST = "ap_sync_auto_post"
# Approval evidence and gate records on the bill: written by the module only.
PROTECTED_MOVE_FIELDS = {
    "ap_staging_id", "ap_approval_status", "ap_approved_at", "ap_approvers", "ap_gate_override_reason",
    "ap_gate_override_uid", "ap_gate_override_date", "ap_gate_override_fingerprint", "ap_posted_by",
    "ap_posted_on", "ap_created_partner_bank_id",
}  # fmt: skip


def normalize_email(value):
    return (value or "").strip().casefold()


class AccountMove(models.Model):
    _inherit = "account.move"

    ap_gate_override_reason = fields.Text(
        string="Posting Gate Override", readonly=True, copy=False, tracking=True,
        help="Why an AP Sync manager let this bill be posted although it differs from its approved document.",
    )  # fmt: skip
    ap_gate_override_uid = fields.Many2one(
        "res.users", string="Gate Overridden By", readonly=True, copy=False
    )
    ap_gate_override_date = fields.Datetime(string="Gate Overridden On", readonly=True, copy=False)
    ap_gate_override_fingerprint = fields.Char(
        readonly=True, copy=False, help="The bill's checked values the override was given for."
    )
    ap_posted_by = fields.Many2one("res.users", string="Posted By", readonly=True, copy=False)
    ap_posted_on = fields.Datetime(string="Posted On", readonly=True, copy=False)
    ap_created_partner_bank_id = fields.Many2one(
        "res.partner.bank", string="Bank Account at Creation", readonly=True, copy=False,
        help="The vendor bank account the bill was created with (when the document names none).",
    )  # fmt: skip
    ap_gate_problems = fields.Text(
        compute="_compute_ap_gate_problems", string="Differences from the Approved Document"
    )

    def write(self, vals):
        if not self.env.su and PROTECTED_MOVE_FIELDS & set(vals):
            raise UserError(
                _(
                    "The approval evidence and posting records of a bill are set by the module only: %s "
                    "cannot be written directly.",
                    ", ".join(sorted(PROTECTED_MOVE_FIELDS & set(vals))),
                )
            )
        return super().write(vals)

    def _compute_ap_gate_problems(self):
        for move in self:
            problems = move._ap_gate_problems() if move.ap_staging_id and move.state == "draft" else []
            move.ap_gate_problems = "\n".join(problems) or False

    # ------------------------------------------------------------------ the gate
    def _ap_format(self, amount, currency):
        return f"{float_round(amount, precision_rounding=currency.rounding):,.{currency.decimal_places}f}"

    def _ap_gate_tolerances(self):
        """(untaxed, total) differences accepted: the configured tolerance, else the currency rounding
        (the total also allows one unit per line of tax rounding, as when the bill was created)."""
        staging = self.ap_staging_id.sudo()
        rounding = (staging.currency_id or self.currency_id).rounding or 0.01
        configured = staging.platform_id.posting_tolerance or 0.0
        lines = max(1, len(staging.line_ids))
        return max(configured, rounding), max(configured, rounding * lines)

    def _ap_gate_problems(self):
        """What differs between this bill and its approved document, with both values (empty: none)."""
        self.ensure_one()
        staging = self.ap_staging_id.sudo()
        if not staging:
            return []
        problems = []
        bill_vendor = self.partner_id.commercial_partner_id
        approved_vendor = staging.partner_id.commercial_partner_id
        if approved_vendor and bill_vendor != approved_vendor:
            problems.append(
                _("Vendor: bill %(bill)s / approved %(doc)s", bill=bill_vendor.display_name or "-",
                  doc=approved_vendor.display_name)
            )  # fmt: skip
        expected_bank = staging.partner_bank_id or self.sudo().ap_created_partner_bank_id
        if staging.supplier_iban or expected_bank:
            bill_bank = self.partner_bank_id.sanitized_acc_number or ""
            approved_bank = expected_bank.sanitized_acc_number or "".join(
                ch for ch in (staging.supplier_iban or "").upper() if ch.isalnum()
            )
            if bill_bank != approved_bank:
                problems.append(
                    _("Vendor bank account: bill %(bill)s / approved %(doc)s", bill=bill_bank or "-",
                      doc=approved_bank or "-")
                )  # fmt: skip
        if staging.currency_id and self.currency_id != staging.currency_id:
            problems.append(
                _("Currency: bill %(bill)s / approved %(doc)s", bill=self.currency_id.name,
                  doc=staging.currency_code or staging.currency_id.name)
            )  # fmt: skip
            return problems  # amounts in two currencies are not compared
        currency = staging.currency_id or self.currency_id
        tol_untaxed, tol_total = self._ap_gate_tolerances()
        for label, bill_amount, doc_amount, tolerance in (
            (_("Total"), abs(self.amount_total), abs(staging.amount_gross), tol_total),
            (_("Untaxed amount"), abs(self.amount_untaxed), abs(staging.amount_net), tol_untaxed),
        ):
            gap = bill_amount - doc_amount
            if float_compare(abs(gap), tolerance, precision_rounding=currency.rounding / 100) > 0:
                problems.append(
                    _(
                        "%(what)s: bill %(bill)s / approved %(doc)s %(cur)s (difference %(gap)s, tolerance %(tol)s)",
                        what=label, bill=self._ap_format(bill_amount, currency),
                        doc=self._ap_format(doc_amount, currency), cur=currency.name,
                        gap=self._ap_format(gap, currency), tol=self._ap_format(tolerance, currency),
                    )
                )  # fmt: skip
        return problems

    def _ap_gate_fingerprint(self):
        """The checked values of the bill and the approved version they were checked against."""
        self.ensure_one()
        staging = self.ap_staging_id.sudo()
        values = [
            staging.document_sha256, self.partner_id.commercial_partner_id.id, self.partner_bank_id.id,
            self.currency_id.id, round(self.amount_total, 6), round(self.amount_untaxed, 6),
        ]  # fmt: skip
        return hashlib.sha256(json.dumps(values).encode()).hexdigest()

    def _ap_is_integration_user(self, platform):
        user = self.env.user
        return user.id == SUPERUSER_ID or (
            platform.integration_user_id and user == platform.integration_user_id
        )

    def _ap_approver_emails(self):
        staging = self.ap_staging_id.sudo()
        approvers = ((staging.document_json or {}).get("approval") or {}).get("approvers") or []
        emails = {
            normalize_email(a.get("email")) for a in approvers if isinstance(a, dict) and a.get("email")
        }
        return emails - {""}

    def _ap_check_posting(self):
        """Raise a UserError when a bill made from a platform document may not be posted now."""
        auto_post = bool(self.env.context.get(AUTO_POST))
        for move in self.filtered(lambda m: m.ap_staging_id and m.is_purchase_document()):
            staging = move.ap_staging_id.sudo()
            platform = staging.platform_id
            problems = move._ap_gate_problems()
            integration = move._ap_is_integration_user(platform)
            if platform.segregation_of_duties:
                if integration and not (auto_post and platform.auto_post):
                    raise UserError(
                        _(
                            "%(bill)s: the integration user (%(user)s) never posts a bill, except by the "
                            "platform's auto-post when every check passed. A person must post it.",
                            bill=move.display_name, user=self.env.user.name,
                        )
                    )  # fmt: skip
                if not integration and normalize_email(self.env.user.email) in move._ap_approver_emails():
                    raise UserError(
                        _(
                            "%(bill)s: you (%(email)s) approved this invoice on the platform; segregation of "
                            "duties requires that someone else posts it.",
                            bill=move.display_name, email=self.env.user.email,
                        )
                    )  # fmt: skip
            if not problems:
                continue
            overridden = move.ap_gate_override_fingerprint == move._ap_gate_fingerprint()
            if overridden and not integration:  # auto-post needs every check passed: no override
                continue
            raise UserError(
                _(
                    "%(bill)s cannot be posted: it differs from the document approved on the platform "
                    "(%(doc)s).\n%(problems)s\nCorrect the bill, have the platform approve a new version, or ask "
                    "an AP Sync manager for an override with a written reason.",
                    bill=move.display_name, doc=staging.display_name, problems="\n".join(problems),
                )
            )  # fmt: skip

    def _post(self, soft=True):
        self._ap_check_posting()
        posted = super()._post(soft=soft)
        ap_moves = posted.filtered("ap_staging_id")
        if ap_moves:
            ap_moves.sudo().write({"ap_posted_by": self.env.uid, "ap_posted_on": fields.Datetime.now()})
        return posted

    # ------------------------------------------------------------------ override
    def _ap_override_gate(self, reason):
        """An AP Sync manager lets the bill be posted as it is now, with a written reason."""
        check_manager(self.env, _("Only an AP Sync manager may override the posting gate."))
        reason = (reason or "").strip()
        if not reason:
            raise UserError(_("Write down why: the reason is kept on the bill and in its audit pack."))
        for move in self:
            if not move.ap_staging_id or move.state != "draft":
                raise UserError(_("%s is not a draft bill from a platform document.", move.display_name))
            problems = move._ap_gate_problems()
            if not problems:
                raise UserError(
                    _("%s matches its approved document: there is nothing to override.", move.display_name)
                )
            move.sudo().write({
                "ap_gate_override_reason": reason, "ap_gate_override_uid": self.env.uid,
                "ap_gate_override_date": fields.Datetime.now(),
                "ap_gate_override_fingerprint": move._ap_gate_fingerprint(),
            })  # fmt: skip
            body = _(
                "Posting gate overridden by %(user)s: %(reason)s\nDifferences accepted:\n%(problems)s",
                user=self.env.user.name, reason=reason, problems="\n".join(problems),
            )  # fmt: skip
            move.message_post(body=body)
            move.ap_staging_id.sudo().message_post(body=body)
        return True

    def action_open_ap_gate_override(self):
        return {
            "type": "ir.actions.act_window",
            "name": _("Override the posting gate"),
            "res_model": "ap.posting.override",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_ids": self.ids},
        }

    # ------------------------------------------------------------------ audit pack
    def action_ap_audit_pack_json(self):
        """One click: the bill's audit pack as a JSON file."""
        self.ensure_one()
        attachment = self.env["ap.audit.pack"]._export_json(self)
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{attachment.id}?download=true",
            "target": "self",
        }

    def action_ap_audit_pack_report(self):
        """One click: the bill's audit pack as a printable report (PDF where wkhtmltopdf is installed)."""
        self.env["ap.audit.pack"]._check_access(self)
        return self.env.ref("account_ap_sync.action_report_ap_audit_pack").report_action(self)
