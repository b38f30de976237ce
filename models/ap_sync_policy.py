"""Sync policy per data domain: near real time or batch, and a service level (SLA) for each.

A scheduled check measures, per company and domain, the records waiting longer than the SLA. A breach
shows on the Overview and opens ONE exception (with one activity) for the managers, updated while the
breach lasts and resolved when the backlog is back within the SLA; never one per record.
"""

from datetime import datetime, time, timedelta

import pytz

from odoo import _, api, fields, models
from odoo.addons.base.models.res_partner import _tz_get
from odoo.exceptions import ValidationError

from .ap_sync_exception import OPEN_STATES

SYNC_DOMAINS = [
    ("vendor_master", "Vendor master"),
    ("approval_status", "Approval status"),
    ("po_receipts", "POs and receipts"),
    ("approved_invoices", "Approved invoices"),
    ("payment_status", "Payment status"),
    ("archives", "Archives"),
]
# Domains carried by outbox messages (the others are processing and housekeeping).
OUTBOX_DOMAINS = ("vendor_master", "approval_status", "po_receipts", "payment_status")
PAYMENT_STATUSES = ("in_payment", "partially_paid", "paid", "reversed")
WAITING_STAGING_STATES = ("received", "validated", "matched")
# Interval batches: each slot of N minutes opens with a run of at most this many minutes.
INTERVAL_RUN_MINUTES = 10


class ApSyncPolicy(models.Model):
    _name = "ap.sync.policy"
    _description = "AP Sync Policy (per data domain)"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "company_id, sequence, id"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    domain = fields.Selection(SYNC_DOMAINS, string="Data Domain", required=True, tracking=True)
    mode = fields.Selection(
        [("realtime", "Near real time"), ("batch", "Batch")],
        required=True,
        default="realtime",
        tracking=True,
        help="Near real time: sent or processed as soon as it changes. Batch: held until the batch window "
        "or the next interval.",
    )
    batch_type = fields.Selection(
        [("interval", "Every N minutes"), ("window", "Time window")], default="interval", tracking=True
    )
    interval_minutes = fields.Integer(
        default=60,
        tracking=True,
        help="Interval batch: a run starts at every multiple of N minutes since midnight (UTC) and lasts at "
        f"most {INTERVAL_RUN_MINUTES} minutes.",
    )
    window_start = fields.Float(default=22.0, tracking=True, help="Time window: opening hour (local time).")
    window_end = fields.Float(default=6.0, tracking=True, help="Time window: closing hour (local time).")
    tz = fields.Selection(_tz_get, string="Timezone", default=lambda self: self.env.user.tz or "UTC")
    sla_minutes = fields.Integer(
        string="SLA (minutes)",
        required=True,
        default=15,
        tracking=True,
        help="Longest acceptable wait of one record in this domain, e.g. approved invoice → bill in 15 minutes.",
    )
    # Last check
    last_check_at = fields.Datetime(readonly=True)
    breached = fields.Boolean(readonly=True, index=True)
    breach_count = fields.Integer(string="Records over SLA", readonly=True)
    oldest_wait_minutes = fields.Integer(string="Oldest Wait (min)", readonly=True)
    breach_since = fields.Datetime(readonly=True)
    exception_id = fields.Many2one("ap.sync.exception", readonly=True, ondelete="set null")

    _sql_constraints = [
        ("company_domain_uniq", "unique(company_id, domain)", "One policy per company and data domain."),
        ("sla_positive", "CHECK(sla_minutes > 0)", "The SLA must be positive."),
    ]

    @api.depends("domain", "company_id")
    def _compute_name(self):
        labels = dict(SYNC_DOMAINS)
        for policy in self:
            policy.name = f"{labels.get(policy.domain, '')} ({policy.company_id.name or ''})"

    @api.constrains("mode", "batch_type", "interval_minutes", "window_start", "window_end")
    def _check_batch(self):
        for policy in self:
            if policy.mode != "batch":
                continue
            if policy.batch_type == "interval" and not 1 <= policy.interval_minutes <= 1440:
                raise ValidationError(_("The interval is between 1 and 1440 minutes."))
            if policy.batch_type == "window" and (
                not 0 <= policy.window_start < 24 or not 0 <= policy.window_end <= 24
                or policy.window_start == policy.window_end
            ):  # fmt: skip
                raise ValidationError(
                    _("A time window opens and closes at different hours between 0 and 24.")
                )

    # ------------------------------------------------------------------ lookups
    @api.model
    def _get_policy(self, domain, company):
        return self.sudo().search([("domain", "=", domain), ("company_id", "=", company.id)], limit=1)

    # ------------------------------------------------------------------ batch windows
    def _next_opening(self, now=None):
        """None when the domain may run now (near real time, or its batch window is open); otherwise the
        naive UTC datetime at which it opens next."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        if self.mode != "batch":
            return None
        if self.batch_type == "interval":
            interval = max(1, self.interval_minutes)
            midnight = datetime.combine(now.date(), time.min)
            minutes = (now - midnight).total_seconds() / 60
            slot_start = int(minutes // interval) * interval
            if minutes - slot_start < min(INTERVAL_RUN_MINUTES, interval):
                return None
            return midnight + timedelta(minutes=slot_start + interval)
        zone = pytz.timezone(self.tz or "UTC")
        local = pytz.utc.localize(now).astimezone(zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        start, end = self.window_start, self.window_end
        inside = start <= hour < end if start < end else (hour >= start or hour < end)
        if inside:
            return None
        opening = local.replace(
            hour=int(start), minute=int(round((start % 1) * 60)) % 60, second=0, microsecond=0
        )
        if opening <= local:
            opening += timedelta(days=1)
        return opening.astimezone(pytz.utc).replace(tzinfo=None)

    @api.model
    def _batch_due_at(self, domain, company):
        """When a change of ``domain`` in ``company`` may go: None for now, else the next opening."""
        policy = self._get_policy(domain, company)
        return policy._next_opening() if policy else None

    @api.model
    def _held_platforms(self, domain):
        """Platforms whose company holds ``domain`` in a closed batch window (scheduled runs skip them)."""
        policies = self.sudo().search([("domain", "=", domain), ("mode", "=", "batch")])
        companies = policies.filtered(lambda p: p._next_opening()).company_id
        if not companies:
            return self.env["ap.platform"]
        return self.env["ap.platform"].sudo().search([("company_id", "in", companies.ids)])

    # ------------------------------------------------------------------ SLA
    def _get_backlog_domain(self, now=None):
        """(model, domain) of the records of this policy's data domain waiting longer than the SLA."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        limit = fields.Datetime.to_string(now - timedelta(minutes=self.sla_minutes))
        company = self.company_id.id
        if self.domain == "approved_invoices":
            return "ap.invoice.staging", [
                ("company_id", "=", company), ("state", "in", WAITING_STAGING_STATES), ("create_date", "<", limit),
            ]  # fmt: skip
        if self.domain in OUTBOX_DOMAINS:
            return "ap.sync.outbox", [
                ("company_id", "=", company), ("sync_domain", "=", self.domain),
                ("state", "in", ("pending", "dead")), ("create_date", "<", limit),
            ]  # fmt: skip
        retention = self.env["ap.sync.log"]._get_retention_days()
        limit = fields.Datetime.to_string(now - timedelta(days=retention, minutes=self.sla_minutes))
        return "ap.sync.log", [
            ("company_id", "=", company), ("payload_purged", "=", False), ("create_date", "<", limit),
        ]  # fmt: skip

    def _measure(self, now=None):
        """(count, oldest create_date) of the records over the SLA."""
        self.ensure_one()
        model, domain = self._get_backlog_domain(now)
        [(count, oldest)] = self.env[model].sudo()._read_group(domain, [], ["__count", "create_date:min"])
        return count, oldest

    @api.model
    def _cron_check_sla(self):
        """Scheduled action: measure every policy; open, update or resolve its one breach exception."""
        now = fields.Datetime.now()
        Exception_ = self.env["ap.sync.exception"].sudo()
        for policy in self.sudo().search([]):
            count, oldest = policy._measure(now)
            values = {
                "last_check_at": now, "breach_count": count,
                "oldest_wait_minutes": int((now - oldest).total_seconds() // 60) if oldest else 0,
            }  # fmt: skip
            if count:
                description = _(
                    "%(count)s record(s) of %(domain)s waited longer than the SLA of %(sla)s minutes; the oldest "
                    "has waited %(age)s minutes.",
                    count=count, domain=dict(SYNC_DOMAINS)[policy.domain], sla=policy.sla_minutes,
                    age=values["oldest_wait_minutes"],
                )  # fmt: skip
                values.update(breached=True, breach_since=policy.breach_since or now)
                values["exception_id"] = Exception_._raise_operational(
                    "sla_breach", description, policy.company_id, policy=policy
                ).id
            elif policy.breached:
                open_items = policy.exception_id.filtered(lambda e: e.state in OPEN_STATES)
                open_items._resolve(_("Back within the SLA."), self.env.ref("base.user_root"))
                values.update(breached=False, breach_since=False)
            policy.write(values)
        return True

    def action_check_now(self):
        self.check_access("write")
        self._cron_check_sla()
        return True

    def action_open_backlog(self):
        self.ensure_one()
        model, domain = self._get_backlog_domain()
        return {
            "type": "ir.actions.act_window",
            "name": _("Over the SLA: %s", self.name),
            "res_model": model,
            "views": [(False, "list"), (False, "form")],
            "domain": domain,
        }
