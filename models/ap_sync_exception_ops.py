"""Exception queue: items about the sync as a whole (an SLA breach, a reconciliation difference).

They belong to a policy or a reconciliation rather than to one record, and there is at most one open
item per policy and per platform and type (database-enforced, like the record items).
"""

from odoo import _, api, fields, models

from .ap_sync_exception import OPEN_STATES

OPERATIONAL_TYPES = [("sla_breach", "SLA breach"), ("reconciliation", "Reconciliation difference")]
# The one open-item index of the queue (created by ap_sync_exception.py, widened here with the policy).
OPEN_UNIQUE_INDEX = "ap_sync_exception_open_key"
# Items of a record (staging or outbox) stay unique per record and type whatever their platform field;
# items of no record are unique per policy, platform and refused document.
OPEN_UNIQUE_COLUMNS = (
    "COALESCE(staging_id, 0), COALESCE(outbox_id, 0), exception_type, COALESCE(policy_id, 0), "
    "(CASE WHEN staging_id IS NULL AND outbox_id IS NULL THEN COALESCE(platform_id, 0) ELSE 0 END), "
    "(CASE WHEN staging_id IS NULL AND outbox_id IS NULL THEN COALESCE(document_ref, '') ELSE '' END)"
)


class ApSyncException(models.Model):
    _inherit = "ap.sync.exception"

    exception_type = fields.Selection(
        selection_add=OPERATIONAL_TYPES, ondelete={kind: "cascade" for kind, _label in OPERATIONAL_TYPES}
    )
    policy_id = fields.Many2one("ap.sync.policy", string="Sync Policy", readonly=True, index="btree_not_null",
                                ondelete="cascade")  # fmt: skip
    reconciliation_id = fields.Many2one(
        "ap.sync.reconciliation", readonly=True, index="btree_not_null", ondelete="set null"
    )

    def init(self):
        res = super().init()
        # The Overview's counts of open items (by platform, type, age) read this index only.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS ap_sync_exception_overview_idx ON ap_sync_exception
               (state, platform_id, create_date) INCLUDE (company_id, exception_type, partner_id)"""
        )
        # The open-item index also tells apart the policies and the platforms of operational items.
        self.env.cr.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [OPEN_UNIQUE_INDEX])
        row = self.env.cr.fetchone()
        if not row or "policy_id" not in row[0]:
            # The index name and columns are this module's constants, never input.
            self.env.cr.execute(f"DROP INDEX IF EXISTS {OPEN_UNIQUE_INDEX}")  # pylint: disable=sql-injection
            self.env.cr.execute(  # pylint: disable=sql-injection
                f"""CREATE UNIQUE INDEX {OPEN_UNIQUE_INDEX} ON ap_sync_exception ({OPEN_UNIQUE_COLUMNS})
                    WHERE state IN %s""",
                [OPEN_STATES],
            )
        return res

    @api.depends("policy_id.name", "reconciliation_id.name")
    def _compute_name(self):
        res = super()._compute_name()
        labels = dict(OPERATIONAL_TYPES)
        for record in self.filtered(lambda r: r.exception_type in labels):
            subject = record.policy_id.name or record.platform_id.name or ""
            record.name = f"{labels[record.exception_type]}: {subject}"
        return res

    @api.model
    def _raise_operational(self, kind, description, company, policy=None, platform=None, reconciliation=None):
        """Open (or update) the one item of this policy or platform and type."""
        domain = [("exception_type", "=", kind), ("state", "in", OPEN_STATES),
                  ("staging_id", "=", False), ("outbox_id", "=", False),
                  ("policy_id", "=", policy.id if policy else False),
                  ("platform_id", "=", platform.id if platform else False)]  # fmt: skip
        existing = self.sudo().search(domain, limit=1)
        values = {
            "description": description,
            "reconciliation_id": reconciliation.id if reconciliation else False,
        }
        if existing:
            existing.write(
                {**values, "occurrences": existing.occurrences + 1, "last_seen": fields.Datetime.now()}
            )
            return existing
        record = self.sudo().with_context(mail_create_nolog=True).create({
            **values, "exception_type": kind, "severity": "high", "company_id": company.id,
            "policy_id": policy.id if policy else False, "platform_id": platform.id if platform else False,
        })  # fmt: skip
        record._notify_assignee()
        record.message_post(body=_("Opened by the scheduled check: %s", description))
        return record

    def action_open_source(self):
        """The policy or the reconciliation behind an operational item."""
        self.ensure_one()
        target = self.reconciliation_id or self.policy_id
        return {
            "type": "ir.actions.act_window",
            "res_model": target._name,
            "res_id": target.id,
            "views": [(False, "form")],
        }

    def action_retry(self):
        """Retry now, for an operational item: measure the policy again, or run its reconciliation again."""
        operational = self.filtered(lambda r: r.exception_type in dict(OPERATIONAL_TYPES))
        result = super(ApSyncException, self - operational).action_retry() if self - operational else True
        if operational:
            self.env["ap.sync.policy"].check_access("read")
            if operational.policy_id:
                self.env["ap.sync.policy"].sudo()._cron_check_sla()
            for record in operational.filtered("reconciliation_id"):
                rerun = record.reconciliation_id.sudo().copy({"origin": "manual"})
                rerun.action_run_and_report()
        return result
