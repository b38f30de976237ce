"""Reconciliation platform ↔ Odoo for a period.

Both sides are counted by state with their amounts: the platform's documents through its list call
(``ap.platform._reconcile_fetch_page``), Odoo's staging records of the platform. Then the differences
are listed: approved on the platform but not in Odoo, billed in Odoo but not acknowledged (no
erp-status delivered), amounts that differ. From the lists, a person pulls the missing documents or
resends the status. A daily scheduled run keeps ONE open exception per platform while the sides differ.
"""

import logging
from datetime import datetime, time, timedelta

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..exceptions import PlatformCallError
from .ap_invoice_staging import BILLED_STATES, to_decimal
from .ap_invoice_staging_ops import parse_platform_datetime
from .ap_sync_exception import OPEN_STATES

_logger = logging.getLogger(__name__)

MAX_PAGES = 200
PAGE_SIZE = 100


class ApSyncReconciliation(models.Model):
    _name = "ap.sync.reconciliation"
    _description = "AP Sync Reconciliation"
    _inherit = ["mail.thread"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    platform_id = fields.Many2one("ap.platform", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="platform_id.company_id", store=True, index=True)
    date_from = fields.Date(
        required=True, default=lambda self: fields.Date.context_today(self) - timedelta(days=7)
    )
    date_to = fields.Date(required=True, default=fields.Date.context_today)
    state = fields.Selection(
        [("draft", "Draft"), ("balanced", "Balanced"), ("differences", "Differences"), ("failed", "Failed")],
        default="draft", required=True, readonly=True, tracking=True,
    )  # fmt: skip
    origin = fields.Selection([("manual", "Manual"), ("cron", "Daily run")], default="manual", readonly=True)
    run_at = fields.Datetime(readonly=True)
    error = fields.Text(readonly=True)
    platform_summary = fields.Json(readonly=True, help="Platform side: {status: {count, amount}}.")
    odoo_summary = fields.Json(readonly=True, help="Odoo side: {state: {count, amount}}.")
    summary_html = fields.Html(compute="_compute_summary_html", sanitize=False, string="Both Sides")
    platform_count = fields.Integer(readonly=True)
    odoo_count = fields.Integer(readonly=True)
    line_ids = fields.One2many(
        "ap.sync.reconciliation.line", "reconciliation_id", string="Differences", readonly=True
    )
    difference_count = fields.Integer(compute="_compute_difference_count", store=True)
    missing_count = fields.Integer(compute="_compute_difference_count", store=True, string="Missing in Odoo")
    unacknowledged_count = fields.Integer(
        compute="_compute_difference_count", store=True, string="Not Acknowledged"
    )
    amount_diff_count = fields.Integer(
        compute="_compute_difference_count", store=True, string="Amounts Differ"
    )

    @api.constrains("date_from", "date_to")
    def _check_dates(self):
        for record in self:
            if record.date_from > record.date_to:
                raise UserError(_("The period starts before it ends."))

    @api.depends("platform_id.name", "date_from", "date_to")
    def _compute_name(self):
        for record in self:
            record.name = f"{record.platform_id.name or ''} {record.date_from or ''} → {record.date_to or ''}"

    @api.depends("line_ids.kind", "line_ids.state")
    def _compute_difference_count(self):
        for record in self:
            lines = record.line_ids.filtered(lambda line: line.state == "open")
            record.difference_count = len(lines)
            record.missing_count = len(lines.filtered(lambda line: line.kind == "missing_in_odoo"))
            record.unacknowledged_count = len(lines.filtered(lambda line: line.kind == "not_acknowledged"))
            record.amount_diff_count = len(lines.filtered(lambda line: line.kind == "amount_differs"))

    def _compute_summary_html(self):
        for record in self:
            rows = []
            for side, summary in ((_("Platform"), record.platform_summary), (_("Odoo"), record.odoo_summary)):
                for key, figures in sorted((summary or {}).items()):
                    rows.append(
                        Markup(
                            "<tr><td>%s</td><td>%s</td><td class='text-end'>%s</td><td class='text-end'>%s</td></tr>"
                        )
                        % (side, key, figures.get("count", 0), f"{figures.get('amount', 0.0):,.2f}")
                    )
            record.summary_html = Markup(
                "<table class='table table-sm o_ap_sync_reconcile'><thead><tr><th>%s</th><th>%s</th>"
                "<th class='text-end'>%s</th><th class='text-end'>%s</th></tr></thead><tbody>%s</tbody></table>"
            ) % (_("Side"), _("State"), _("Count"), _("Amount"), Markup("").join(rows))

    # ------------------------------------------------------------------ run
    def _period_bounds(self):
        start = datetime.combine(self.date_from, time.min)
        return start, datetime.combine(self.date_to, time.min) + timedelta(days=1)

    def _fetch_platform_side(self):
        """Every platform document updated in the period, by id."""
        start, end = self._period_bounds()
        documents, cursor = {}, None
        for _page in range(MAX_PAGES):
            items, cursor = self.platform_id._reconcile_fetch_page(
                updated_since=start.strftime("%Y-%m-%dT%H:%M:%SZ"), cursor=cursor, limit=PAGE_SIZE
            )
            for item in items:
                updated = parse_platform_datetime(item.get("updated_at"))
                if item.get("id") and (updated is None or updated < end):
                    documents[str(item["id"])] = item
            if not cursor:
                break
        return documents

    def action_run(self):
        """Count both sides and list the differences (replaces the earlier lists of this record)."""
        for record in self:
            record.check_access("write")
            try:
                documents = record._fetch_platform_side()
            except (PlatformCallError, UserError) as exc:
                record.write({"state": "failed", "error": str(exc.args[0]), "run_at": fields.Datetime.now()})
                continue
            record._compare(documents)
        return True

    def _compare(self, documents):
        self.ensure_one()
        Staging = self.env["ap.invoice.staging"].sudo()
        start, end = self._period_bounds()
        platform_summary = {}
        for document in documents.values():
            status = (document.get("approval") or {}).get("status") or "unknown"
            amount = float(to_decimal((document.get("totals") or {}).get("gross")) or 0)
            figures = platform_summary.setdefault(status, {"count": 0, "amount": 0.0})
            figures["count"] += 1
            figures["amount"] = round(figures["amount"] + amount, 2)
        odoo_summary = {}
        for state, count, amount in Staging._read_group(
            [("platform_id", "=", self.platform_id.id), ("create_date", ">=", start), ("create_date", "<", end)],
            ["state"], ["__count", "amount_gross:sum"],
        ):  # fmt: skip
            odoo_summary[state] = {"count": count, "amount": round(amount or 0.0, 2)}
        stagings = {
            s.document_id: s
            for s in Staging.search(
                [("platform_id", "=", self.platform_id.id), ("document_id", "in", list(documents))]
            )
        }
        lines = []
        for doc_id, document in documents.items():
            status = (document.get("approval") or {}).get("status")
            gross = to_decimal((document.get("totals") or {}).get("gross"))
            staging = stagings.get(doc_id)
            base = {"document_id": doc_id, "number": document.get("number"), "platform_status": status,
                    "platform_amount": float(gross or 0)}  # fmt: skip
            if not staging:
                if status == "approved":
                    lines.append({**base, "kind": "missing_in_odoo", "document_json": document})
                continue
            rounding = staging.currency_id.rounding or 0.01
            if gross is not None and abs(float(gross) - staging.amount_gross) > rounding / 2:
                lines.append({**base, "kind": "amount_differs", "staging_id": staging.id,
                              "odoo_amount": staging.amount_gross, "odoo_state": staging.state})  # fmt: skip
        # Billed in Odoo in the period, but no erp-status was ever acknowledged (2xx) by the platform.
        billed = Staging.search([
            ("platform_id", "=", self.platform_id.id), ("state", "in", tuple(BILLED_STATES)),
            ("bill_created_at", ">=", start), ("bill_created_at", "<", end),
        ])  # fmt: skip
        acknowledged = set(
            self.env["ap.sync.outbox"].sudo().search([
                ("staging_id", "in", billed.ids), ("kind", "=", "erp_status"), ("state", "=", "done"),
                ("status", "!=", "rejected"),
            ]).staging_id.ids
        )  # fmt: skip
        for staging in billed.filtered(lambda s: s.id not in acknowledged):
            lines.append({
                "kind": "not_acknowledged", "document_id": staging.document_id, "number": staging.number,
                "staging_id": staging.id, "odoo_amount": staging.amount_gross, "odoo_state": staging.state,
                "platform_status": (documents.get(staging.document_id, {}).get("approval") or {}).get("status"),
            })  # fmt: skip
        self.line_ids.unlink()
        self.write({
            "line_ids": [(0, 0, values) for values in lines],
            "platform_summary": platform_summary, "odoo_summary": odoo_summary,
            "platform_count": len(documents), "odoo_count": sum(f["count"] for f in odoo_summary.values()),
            "state": "differences" if lines else "balanced", "run_at": fields.Datetime.now(), "error": False,
        })  # fmt: skip
        return lines

    # ------------------------------------------------------------------ exception and daily run
    def _sync_exception(self):
        """One open exception per platform while its sides differ; resolved when they agree again."""
        Exception_ = self.env["ap.sync.exception"].sudo()
        for record in self:
            if record.state == "differences":
                description = _(
                    "Reconciliation %(name)s: %(missing)s approved on the platform but not in Odoo, "
                    "%(unack)s billed but not acknowledged, %(amounts)s amounts differ.",
                    name=record.name, missing=record.missing_count, unack=record.unacknowledged_count,
                    amounts=record.amount_diff_count,
                )  # fmt: skip
                Exception_._raise_operational(
                    "reconciliation", description, record.company_id, platform=record.platform_id,
                    reconciliation=record,
                )  # fmt: skip
            elif record.state == "balanced":
                Exception_.search([
                    ("exception_type", "=", "reconciliation"), ("platform_id", "=", record.platform_id.id),
                    ("state", "in", OPEN_STATES),
                ])._resolve(
                    _("Reconciliation %s: both sides agree.", record.name), self.env.ref("base.user_root")
                )  # fmt: skip

    @api.model
    def _cron_reconcile(self, days=None):
        """Scheduled action (daily): reconcile the last N days of one platform per call; Odoo commits and
        calls again while platforms are left."""
        ICP = self.env["ir.config_parameter"].sudo()
        days = int(days or ICP.get_param("account_ap_sync.reconcile_days", 7))
        today = fields.Date.context_today(self)
        platforms = self.env["ap.platform"].sudo().search([("base_url", "!=", False)])
        done_today = self.sudo().search([
            ("origin", "=", "cron"), ("date_to", "=", today), ("platform_id", "in", platforms.ids),
        ]).platform_id  # fmt: skip
        todo = platforms - done_today
        if not todo:
            return 0
        platform = todo[0]
        record = self.sudo().create({
            "platform_id": platform.id, "date_from": today - timedelta(days=days), "date_to": today,
            "origin": "cron",
        })  # fmt: skip
        record.action_run()
        record._sync_exception()
        self.env["ir.cron"]._notify_progress(done=1, remaining=len(todo) - 1)
        return len(todo) - 1

    def action_run_and_report(self):
        self.action_run()
        self._sync_exception()
        return True

    # ------------------------------------------------------------------ actions on the lists
    def action_pull_missing(self):
        return self.line_ids.filtered(lambda line: line.kind == "missing_in_odoo").action_pull()

    def action_resend_statuses(self):
        return self.line_ids.filtered(lambda line: line.kind == "not_acknowledged").action_resend_status()
