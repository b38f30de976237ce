"""The accountants' exception queue: one record per problem a person must decide on.

At most one open exception per (record, type): a repeated failure updates it; the assignee gets
one activity when it opens, none per retry. When processing later passes the step, the exception
is resolved by the system with a note.
"""

import json
import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..utils.access import MANAGER_GROUP, check_manager
from .ap_invoice_staging import EXCEPTION_TYPES, FLAG_TYPES, OPEN_STATES

_logger = logging.getLogger(__name__)

# Raised by the pipeline for a stopped record; the others flag a billed record or a dead message.
# (Kept for imports; the method ``_get_pipeline_types`` is what the module uses.)
PIPELINE_TYPES = {kind for kind, _label in EXCEPTION_TYPES} - set(FLAG_TYPES)
VARIANCE_TYPES = {"price_variance", "quantity_variance", "receipt_missing"}
USER_WRITABLE = {"user_id", "state"}

# Raised at a door, for a document that was refused and so has no record in Odoo (named by its platform id).
INTAKE_TYPES = [("intake_refused", "Refused at intake")]
# Raised for a platform as a whole: one open item however many calls it holds back.
PLATFORM_TYPES = [("credentials_unreadable", "Credentials unreadable")]

SEVERITY = {
    "intake_refused": "medium",
    "credentials_unreadable": "high",
    "bank_account_change": "high",
    "possible_duplicate": "high",
    "changed_after_billing": "high",
    "voided_after_billing": "high",
    "delivery_failed": "high",
    "approval_not_confirmed": "medium",
    "price_variance": "medium",
    "quantity_variance": "medium",
    "receipt_missing": "medium",
}


class ApSyncException(models.Model):
    _name = "ap.sync.exception"
    _description = "AP Sync Exception"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "state, create_date desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    exception_type = fields.Selection(
        EXCEPTION_TYPES + INTAKE_TYPES + PLATFORM_TYPES + [("cron_failure", "Scheduled action failing")],
        string="Type",
        required=True,
        readonly=True,
        index=True,
    )
    cron_id = fields.Many2one(
        "ir.cron", string="Scheduled Action", readonly=True, ondelete="set null",
        help="For a scheduled action of the module that keeps failing or being killed at its time limit.",
    )  # fmt: skip
    severity = fields.Selection(
        [("low", "Low"), ("medium", "Medium"), ("high", "High")], required=True, default="low", readonly=True
    )
    staging_id = fields.Many2one("ap.invoice.staging", readonly=True, index=True, ondelete="cascade")
    outbox_id = fields.Many2one(
        "ap.sync.outbox", string="Outbox Message", readonly=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    platform_id = fields.Many2one("ap.platform", readonly=True, index=True)
    document_ref = fields.Char(
        string="Platform Document",
        readonly=True,
        index=True,
        help="The platform's id of a document refused at intake (it has no record in Odoo).",
    )
    log_id = fields.Many2one(
        "ap.sync.log",
        string="Sync Log Entry",
        readonly=True,
        ondelete="set null",
        help="The refusal, with the raw document as received.",
    )
    partner_id = fields.Many2one(related="staging_id.partner_id", string="Vendor", store=True)
    user_id = fields.Many2one("res.users", string="Assignee", tracking=True, index=True)
    state = fields.Selection(
        [("open", "Open"), ("in_progress", "In Progress"), ("resolved", "Resolved"), ("ignored", "Ignored")],
        required=True, default="open", tracking=True, index=True,
    )  # fmt: skip
    description = fields.Text(readonly=True, help="The problem, in words and numbers.")
    occurrences = fields.Integer(default=1, readonly=True, help="How many times processing met this problem.")
    last_seen = fields.Datetime(default=fields.Datetime.now, readonly=True)
    resolution = fields.Text(tracking=True)
    resolved_by = fields.Many2one("res.users", readonly=True)
    resolved_on = fields.Datetime(readonly=True)
    age_days = fields.Integer(compute="_compute_age", string="Age (days)")
    # Context for the person deciding (not stored)
    explanation = fields.Html(
        compute="_compute_explanation", sanitize=False, help="The problem with its numbers."
    )
    payload_text = fields.Text(compute="_compute_payload_text", string="Payload as Received")
    vendor_candidate_ids = fields.Many2many(
        related="staging_id.vendor_candidate_ids", string="Candidate Vendors"
    )
    staging_state = fields.Selection(related="staging_id.state", string="Record State")
    move_id = fields.Many2one(related="staging_id.move_id", string="Bill")
    payload_attachment_id = fields.Many2one(related="staging_id.payload_attachment_id", string="Raw Payload")
    supplier_name = fields.Char(related="staging_id.supplier_name")
    supplier_vat = fields.Char(related="staging_id.supplier_vat")
    supplier_iban = fields.Char(related="staging_id.supplier_iban")
    supplier_external_id = fields.Char(related="staging_id.supplier_external_id")
    is_open = fields.Boolean(compute="_compute_is_open")

    def init(self):
        # At most one open exception per record and type, enforced by the database.
        # A document refused at intake has no record: its platform and document id stand for it.
        self.env.cr.execute(
            """DROP INDEX IF EXISTS ap_sync_exception_open_uniq;
               CREATE UNIQUE INDEX IF NOT EXISTS ap_sync_exception_open_key
               ON ap_sync_exception (
                   COALESCE(staging_id, 0), COALESCE(outbox_id, 0), exception_type,
                   (CASE WHEN staging_id IS NULL AND outbox_id IS NULL THEN COALESCE(platform_id, 0) ELSE 0 END),
                   (CASE WHEN staging_id IS NULL AND outbox_id IS NULL THEN COALESCE(document_ref, '') ELSE '' END))
               WHERE state IN %s""",
            [OPEN_STATES],
        )

    @api.depends(
        "exception_type", "staging_id.name", "staging_id.number", "outbox_id", "document_ref", "cron_id"
    )
    def _compute_name(self):
        labels = dict(
            EXCEPTION_TYPES + INTAKE_TYPES + PLATFORM_TYPES, cron_failure=_("Scheduled action failing")
        )
        for record in self:
            subject = (
                record.staging_id.display_name
                or (record.outbox_id and f"OUT-{record.outbox_id.id}")
                or record.document_ref
                or record.cron_id.sudo().name
                or ""
            )
            record.name = f"{labels.get(record.exception_type, '')}: {subject}"

    def _compute_age(self):
        now = fields.Datetime.now()
        for record in self:
            record.age_days = (now - record.create_date).days if record.create_date else 0

    @api.depends("state")
    def _compute_is_open(self):
        for record in self:
            record.is_open = record.state in OPEN_STATES

    def _compute_payload_text(self):
        for record in self:
            data = record.staging_id.document_json if record.staging_id else record.outbox_id.payload
            record.payload_text = (
                json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) if data else False
            )

    def _compute_explanation(self):
        for record in self:
            record.explanation = record._get_explanation()

    def _get_explanation(self):
        """The problem in words, then its numbers: a table for variances, the supplier for vendors
        (QWeb template ``account_ap_sync.exception_explanation``: every value is escaped)."""
        self.ensure_one()
        values = {
            "paragraphs": [line for line in (self.description or "").splitlines() if line.strip()],
            "lines_table": None,
            "supplier_rows": None,
        }
        staging = self.staging_id
        if self.exception_type in VARIANCE_TYPES | {"po_not_found"} and staging.line_ids:
            values["lines_table"] = self._explain_lines(staging.line_ids)
        elif self.exception_type in ("unknown_vendor", "ambiguous_vendor", "bank_account_change") and staging:
            values["supplier_rows"] = [
                (_("Supplier name"), staging.supplier_name), (_("Platform vendor id"), staging.supplier_external_id),
                (_("VAT"), staging.supplier_vat), (_("IBAN"), staging.supplier_iban),
                (_("Email"), staging.supplier_email),
            ]  # fmt: skip
        return self.env["ir.qweb"]._render("account_ap_sync.exception_explanation", values)

    def _explain_lines(self, lines):
        """Invoice beside PO: price, ordered, received and already billed quantities, per line, as
        ``{"header": [label], "rows": [{"css", "cells"}]}`` for the explanation template."""
        header = [_("Line"), _("Description"), _("Invoice price"), _("PO price"), _("Difference"),
                  _("Billed now"), _("Ordered"), _("Received"), _("Already billed"), _("Result")]  # fmt: skip
        labels = dict(lines._fields["match_status"]._description_selection(self.env))
        rows = []
        for line in lines:
            diff = ""
            if line.purchase_line_id and line.po_price_unit:
                pct = (line.unit_price - line.po_price_unit) / line.po_price_unit * 100
                diff = f"{line.unit_price - line.po_price_unit:+.2f} ({pct:+.1f}%)"
            cells = [
                line.sequence, line.description or line.product_code or "", line.unit_price,
                line.po_price_unit if line.purchase_line_id else "-", diff or "-", line.quantity,
                line.ordered_qty if line.purchase_line_id else "-", line.received_qty if line.purchase_line_id else "-",
                line.billed_qty if line.purchase_line_id else "-", labels.get(line.match_status, "-"),
            ]  # fmt: skip
            css = "table-warning" if line.match_status not in (False, "matched", "no_po") else ""
            rows.append({"css": css, "cells": cells})
        return {"header": header, "rows": rows}

    @api.model
    def _get_pipeline_types(self):
        """Exception types raised by the pipeline for a stopped record (Retry now reruns them): the types
        a staging record can stop at, including those added there with ``selection_add``, except the
        flag types. Items about no record (refused at intake, a failing cron, an SLA) are not among them."""
        kinds = set(self.env["ap.invoice.staging"]._fields["exception_type"].get_values(self.env))
        return kinds - set(self._get_flag_types())

    @api.model
    def _get_flag_types(self):
        """Types that flag a billed record or a dead message without stopping processing."""
        return tuple(FLAG_TYPES)

    @api.model
    def _get_severity(self, kind):
        """Severity of a new exception of type ``kind`` (overridable)."""
        return SEVERITY.get(kind, "low")

    @api.model
    def _raise_for(
        self, kind, description, staging=None, outbox=None, platform=None, document_ref=None, log=None
    ):
        """Open (or update) the exception of this record and type.

        Without a record (a document refused at intake), ``platform`` and ``document_ref`` name it.
        """
        domain = [("exception_type", "=", kind), ("state", "in", OPEN_STATES)]
        if staging:
            domain.append(("staging_id", "=", staging.id))
        elif outbox:
            domain.append(("outbox_id", "=", outbox.id))
        else:
            domain += [("staging_id", "=", False), ("outbox_id", "=", False), ("platform_id", "=", platform.id),
                       ("document_ref", "=", document_ref or False)]  # fmt: skip
        existing = self.sudo().search(domain, limit=1)
        if existing:
            values = {"description": description, "occurrences": existing.occurrences + 1,
                      "last_seen": fields.Datetime.now()}  # fmt: skip
            if log:
                values["log_id"] = log.id
            existing.write(values)
            return existing
        record = self.sudo().with_context(mail_create_nolog=True).create({
            "exception_type": kind,
            "severity": self._get_severity(kind),
            "staging_id": staging.id if staging else False,
            "outbox_id": outbox.id if outbox else False,
            "company_id": (staging or outbox or platform).company_id.id,
            "platform_id": (platform or (staging or outbox).platform_id).id,
            "document_ref": document_ref or False,
            "log_id": log.id if log else False,
            "description": description,
        })  # fmt: skip
        record._notify_assignee()
        return record

    @api.model
    def _raise_for_cron(self, cron, description):
        """One open item (one activity) while scheduled actions of the module keep failing."""
        existing = self.sudo().search(
            [("exception_type", "=", "cron_failure"), ("state", "in", OPEN_STATES)], limit=1
        )
        if existing:
            if existing.description != description or existing.cron_id != cron:
                existing.write({"description": description, "occurrences": existing.occurrences + 1,
                                "last_seen": fields.Datetime.now(), "cron_id": cron.id})  # fmt: skip
            return existing
        company = self.env.ref("base.main_company", raise_if_not_found=False) or self.env.company
        record = self.sudo().with_context(mail_create_nolog=True).create({
            "exception_type": "cron_failure", "severity": "high", "cron_id": cron.id,
            "company_id": company.id, "description": description,
        })  # fmt: skip
        record._notify_assignee()
        _logger.warning("AP Sync: %s", description)
        return record

    @api.model
    def _resolve_cron_failures(self, note):
        self.sudo().search([("exception_type", "=", "cron_failure"), ("state", "in", OPEN_STATES)])._resolve(
            note, self.env.ref("base.user_root")
        )

    def _notify_assignee(self):
        """One activity when an exception opens (the platform's responsible manager by default)."""
        managers = self.env.ref(MANAGER_GROUP).users.filtered(lambda u: not u.share)
        # No e-mail per activity (a burst of failures would be a flood): the activity shows in the
        # assignee's activities, and the daily digest sums up what is left waiting.
        for record in self.with_context(mail_activity_quick_update=True):
            user = record.user_id or managers[:1] or self.env.ref("base.user_admin")
            record.activity_schedule(
                "mail.mail_activity_data_todo", summary=record.name, note=record.description, user_id=user.id
            )

    def _resolve(self, note, user=None, state="resolved"):
        self.sudo().write({
            "state": state, "resolution": note, "resolved_by": (user or self.env.user).id,
            "resolved_on": fields.Datetime.now(),
        })  # fmt: skip
        self.sudo().activity_ids.action_done()

    def write(self, vals):
        # People assign and take items; closing goes through the actions, which keep who, when and why.
        if not self.env.su:
            forged = {
                name
                for name in vals
                if name not in USER_WRITABLE and not name.startswith(("message_", "activity_"))
            }
            reopened = "state" in vals and any(record.state not in OPEN_STATES for record in self)
            if forged or reopened or vals.get("state", "open") not in OPEN_STATES:
                raise UserError(
                    _("An exception is resolved or ignored through its actions, which keep the reason: "
                      "%s cannot be written directly.", ", ".join(sorted(forged)) or _("its state"))
                )  # fmt: skip
        result = super().write(vals)
        if vals.get("user_id"):
            # A new assignee takes over the open activity: no second activity, none per reassignment.
            self.sudo().activity_ids.filtered(lambda a: a.user_id.id != vals["user_id"]).with_context(
                mail_activity_quick_update=True
            ).write({"user_id": vals["user_id"]})
        return result

    # ------------------------------------------------------------------ the person's actions
    def _check_open(self):
        closed = self.filtered(lambda r: r.state not in OPEN_STATES)
        if closed:
            raise UserError(_("%s is already closed.", ", ".join(closed.mapped("name"))))

    def _check_reason(self, reason):
        if not (reason or "").strip():
            raise UserError(_("Write down why: the reason is kept with the exception and its record."))
        return reason.strip()

    def _conclude(self, note):
        """After a person's fix and the resumed processing: close with the person's note, or say why not.

        The exception is closed when its record moved past the problem (processing resolves it, or it was
        already resolved by the action); it stays open, with the new finding in its chatter, otherwise.
        """
        for record in self:
            if record.state in OPEN_STATES:
                stopped_again = (
                    record.staging_id.state == "exception"
                    and record.staging_id.exception_type == record.exception_type
                )
                if stopped_again:
                    record.message_post(
                        body=_("%(note)s Processing stopped again: %(why)s", note=note,
                               why=record.staging_id.exception_reason)
                    )  # fmt: skip
                    continue
                record._resolve(note)
            else:
                outcome = dict(record.staging_id._fields["state"]._description_selection(self.env)).get(
                    record.staging_id.state, ""
                )
                record.sudo().write({
                    "resolution": f"{note}\n{_('Processing went on: the record is now %s.', outcome)}"
                    if record.staging_id else note,
                    "resolved_by": self.env.user.id,
                })  # fmt: skip
            record._post_note(note)
        return True

    def _post_note(self, note):
        """The person's note, in the exception's chatter and in its invoice's."""
        self.ensure_one()
        self.message_post(body=note)
        if self.staging_id:
            self.staging_id.message_post(body=_("%(name)s: %(note)s", name=self.name, note=note))

    def _resume(self):
        """Resume processing of the records behind these exceptions (stopped ones only)."""
        stagings = self.staging_id.filtered(lambda s: s.state in ("exception", "received"))
        stagings.sudo()._process()
        return stagings

    def action_take(self):
        self._check_open()
        self.write({"user_id": self.env.user.id, "state": "in_progress"})
        return True

    def action_retry(self):
        """Retry now: resume processing (a staging record) or replay the message (a dead outbox message)."""
        self.check_access("write")
        records = self.filtered(lambda r: r.state in OPEN_STATES)
        outbox = records.outbox_id.filtered(lambda m: m.state == "dead")
        if outbox:
            outbox.action_replay()
        # A flag on a billed record has nothing to rerun: a person decides (ignore or reject).
        pipeline_types = self._get_pipeline_types()
        reruns = records.filtered(lambda r: r.staging_id and r.exception_type in pipeline_types)
        for record in reruns:
            record.message_post(body=_("Retried by %s.", self.env.user.name))
        reruns._resume()
        still = reruns.filtered(lambda r: r.state in OPEN_STATES)
        if len(records) == 1 and still:
            return {
                "type": "ir.actions.client", "tag": "display_notification",
                "params": {"type": "warning", "title": _("Still stopped"),
                           "message": still.staging_id.exception_reason or still.description, "sticky": False,
                           "next": {"type": "ir.actions.act_window_close"}},
            }  # fmt: skip
        return True

    def action_open_wizard(self):
        """Open the resolution wizard for the action named in the context (link_vendor, add_mapping...)."""
        self._check_open()
        action = self.env.context.get("resolve_action")
        return {
            "type": "ir.actions.act_window",
            "name": dict(self.env["ap.sync.exception.resolve"]._fields["action"].selection).get(action),
            "res_model": "ap.sync.exception.resolve",
            "view_mode": "form",
            "target": "new",
            "context": {"default_exception_ids": self.ids, "default_action": action},
        }

    def action_open_staging(self):
        self.ensure_one()
        return self._open_record(self.staging_id)

    def action_open_payload(self):
        """The raw payload exactly as received (the bytes the platform signed)."""
        self.ensure_one()
        return self.staging_id.action_open_payload()

    def action_open_bill(self):
        self.ensure_one()
        return self._open_record(self.move_id)

    def _open_record(self, record):
        return {"type": "ir.actions.act_window", "res_model": record._name, "res_id": record.id,
                "view_mode": "form", "views": [(False, "form")]}  # fmt: skip

    # Resolutions (called by the wizard; each leaves its note and resumes processing)
    def _do_link_vendor(self, partner, remember=False):
        self._check_open()
        for record in self:
            staging = record.staging_id
            if not staging or record.exception_type not in ("unknown_vendor", "ambiguous_vendor"):
                raise UserError(_("%s is not about an unknown vendor.", record.name))
            staging.check_access("write")
            staging.sudo().write({
                "partner_id": partner.id, "vendor_candidate_ids": [(5, 0, 0)],
                "vendor_match_rule": _("linked by %s", self.env.user.name),
            })  # fmt: skip
            note = _(
                "Vendor %(vendor)s linked by %(user)s.", vendor=partner.display_name, user=self.env.user.name
            )
            if remember:
                note += " " + record._remember_vendor(partner)
            record._resume()
            record._conclude(note)
        return True

    def _remember_vendor(self, partner):
        staging = self.staging_id
        if not staging.supplier_external_id:
            raise UserError(_("The invoice has no platform vendor id to remember: link without remembering."))
        mapping = (
            self.env["ap.sync.mapping"]
            .sudo()
            ._set_vendor(staging.supplier_external_id, partner, staging.company_id, staging.platform_id)
        )
        mapping.message_post(
            body=_("Set from exception %(name)s by %(user)s.", name=self.name, user=self.env.user.name)
        )
        return _("Mapping remembered: platform vendor %(code)s is %(vendor)s.",
                 code=staging.supplier_external_id, vendor=partner.display_name)  # fmt: skip

    def _do_add_mapping(self, mapping_type, external_code, target):
        """Add a tax or account mapping (a configuration change: the mapping rights of the user apply)."""
        self._check_open()
        self.env["ap.sync.mapping"].check_access("create")
        staging = self.staging_id[:1]
        field = {"tax": "tax_id", "account": "account_id"}[mapping_type]
        mapping = self.env["ap.sync.mapping"].create({
            "mapping_type": mapping_type, "external_code": external_code.strip(),
            "company_id": staging.company_id.id, "platform_id": staging.platform_id.id, field: target.id,
        })  # fmt: skip
        note = _("Mapping added by %(user)s: %(type)s %(code)s is %(target)s.", user=self.env.user.name,
                 type=mapping_type, code=mapping.external_code, target=target.display_name)  # fmt: skip
        # Every exception stopped on this kind of mapping in the company may now go on.
        related = self | self.search([
            ("state", "in", OPEN_STATES), ("exception_type", "=", f"{mapping_type}_mapping"),
            ("company_id", "=", staging.company_id.id),
        ])  # fmt: skip
        related._resume()
        related._conclude(note)
        return mapping

    def _do_override(self, kind, reason):
        """Accept a variance / release a possible duplicate: manager only, with a reason."""
        self._check_open()
        reason = self._check_reason(reason)
        wanted = VARIANCE_TYPES if kind == "variance" else {"possible_duplicate"}
        check_manager(self.env, _("Only an AP Sync manager may accept a variance.") if kind == "variance"
                      else _("Only an AP Sync manager may mark an invoice not a duplicate."))  # fmt: skip
        for record in self:
            if record.exception_type not in wanted:
                raise UserError(_("%s is not that kind of exception.", record.name))
            record.staging_id._override(kind, reason)
            label = _("Variance accepted") if kind == "variance" else _("Not a duplicate")
            record._conclude(_("%(label)s by %(user)s: %(reason)s", label=label, user=self.env.user.name,
                               reason=reason))  # fmt: skip
        return True

    def _do_reject(self, reason):
        """Reject the invoice back to the platform (erp-status rejected with the reason)."""
        self._check_open()
        reason = self._check_reason(reason)
        for record in self:
            if not record.staging_id:
                raise UserError(_("%s has no invoice to reject.", record.name))
            record.staging_id.check_access("write")
            record.staging_id.action_reject_to_platform(reason)
            record._conclude(_("Rejected to the platform by %(user)s: %(reason)s", user=self.env.user.name,
                               reason=reason))  # fmt: skip
        return True

    def _do_ignore(self, reason):
        """Close without changing anything (e.g. a change after billing already handled by hand)."""
        self._check_open()
        reason = self._check_reason(reason)
        note = _("Ignored by %(user)s: %(reason)s", user=self.env.user.name, reason=reason)
        for record in self:
            record._resolve(note, state="ignored")
            if record.exception_type in ("changed_after_billing", "voided_after_billing"):
                record.staging_id.sudo().write({"attention_required": False})
            record._post_note(note)
        return True

    # ------------------------------------------------------------------ daily digest
    @api.model
    def _cron_send_digest(self, older_than_days=None):
        """One message to the managers when open exceptions are older than N days; never a flood."""
        ICP = self.env["ir.config_parameter"].sudo()
        days = int(older_than_days or ICP.get_param("account_ap_sync.digest_older_than_days", 3))
        today = fields.Date.context_today(self).isoformat()
        if ICP.get_param("account_ap_sync.digest_last_sent") == today:
            return False
        limit = fields.Datetime.subtract(fields.Datetime.now(), days=days)
        groups = self.sudo()._read_group(
            [("state", "in", OPEN_STATES), ("create_date", "<", limit)],
            ["company_id", "exception_type"], ["__count"],
        )  # fmt: skip
        if not groups:
            return False
        managers = self.env.ref(MANAGER_GROUP).users.filtered(lambda u: u.active and not u.share)
        if not managers:
            return False
        labels = dict(self._fields["exception_type"]._description_selection(self.env))
        total = sum(count for _company, _kind, count in groups)
        body = self.env["ir.qweb"]._render("account_ap_sync.exception_digest", {
            "summary": _(
                "%(count)s AP Sync exceptions have been open for more than %(days)s days.",
                count=total,
                days=days,
            ),
            "rows": [(company.name, labels.get(kind, kind), count) for company, kind, count in groups],
            "url": f"{self.get_base_url()}/odoo/action-account_ap_sync.action_ap_sync_exception",
            "link_label": _("Open the exception queue"),
        })  # fmt: skip
        # One message for all the managers, whatever the number of exceptions.
        self.message_notify(
            partner_ids=managers.partner_id.ids,
            subject=_("AP Sync: %s exceptions waiting", total),
            body=body,
            author_id=self.env.ref("base.partner_root").id,
        )
        ICP.set_param("account_ap_sync.digest_last_sent", today)
        return True
