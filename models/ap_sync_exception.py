"""The accountants' exception queue: one record per problem a person must decide on.

At most one open exception per (record, type): a repeated failure updates it; the assignee gets
one activity when it opens, none per retry. When processing later passes the step, the exception
is resolved by the system with a note.
"""

from odoo import api, fields, models

from .ap_invoice_staging_process import EXCEPTION_TYPES

SEVERITY = {
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
        EXCEPTION_TYPES, string="Type", required=True, readonly=True, index=True
    )
    severity = fields.Selection(
        [("low", "Low"), ("medium", "Medium"), ("high", "High")], required=True, default="low", readonly=True
    )
    staging_id = fields.Many2one("ap.invoice.staging", readonly=True, index=True, ondelete="cascade")
    outbox_id = fields.Many2one(
        "ap.sync.outbox", string="Outbox Message", readonly=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    platform_id = fields.Many2one("ap.platform", readonly=True, index=True)
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

    def init(self):
        # At most one open exception per record and type, enforced by the database.
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS ap_sync_exception_open_uniq
               ON ap_sync_exception (COALESCE(staging_id, 0), COALESCE(outbox_id, 0), exception_type)
               WHERE state IN ('open', 'in_progress')"""
        )

    @api.depends("exception_type", "staging_id", "outbox_id")
    def _compute_name(self):
        labels = dict(EXCEPTION_TYPES)
        for record in self:
            subject = record.staging_id.name or (record.outbox_id and f"OUT-{record.outbox_id.id}") or ""
            record.name = f"{labels.get(record.exception_type, '')}: {subject}"

    def _compute_age(self):
        now = fields.Datetime.now()
        for record in self:
            record.age_days = (now - record.create_date).days if record.create_date else 0

    @api.model
    def _raise_for(self, kind, description, staging=None, outbox=None):
        """Open (or update) the exception of this record and type."""
        domain = [("exception_type", "=", kind), ("state", "in", ("open", "in_progress"))]
        domain.append(("staging_id", "=", staging.id) if staging else ("outbox_id", "=", outbox.id))
        existing = self.sudo().search(domain, limit=1)
        if existing:
            existing.write({"description": description, "occurrences": existing.occurrences + 1,
                            "last_seen": fields.Datetime.now()})  # fmt: skip
            return existing
        source = staging or outbox
        record = self.sudo().with_context(mail_create_nolog=True).create({
            "exception_type": kind,
            "severity": SEVERITY.get(kind, "low"),
            "staging_id": staging.id if staging else False,
            "outbox_id": outbox.id if outbox else False,
            "company_id": source.company_id.id,
            "platform_id": source.platform_id.id,
            "description": description,
        })  # fmt: skip
        record._notify_assignee()
        return record

    def _notify_assignee(self):
        """One activity when an exception opens (the platform's responsible manager by default)."""
        managers = self.env.ref("account_ap_sync.group_ap_sync_manager").users.filtered(lambda u: not u.share)
        for record in self:
            user = record.user_id or managers[:1] or self.env.ref("base.user_admin")
            record.activity_schedule(
                "mail.mail_activity_data_todo", summary=record.name, note=record.description, user_id=user.id
            )

    def _resolve(self, note, user=None):
        self.sudo().write({
            "state": "resolved", "resolution": note, "resolved_by": (user or self.env.user).id,
            "resolved_on": fields.Datetime.now(),
        })  # fmt: skip
        self.sudo().activity_ids.action_done()
