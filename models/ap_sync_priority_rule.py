"""Priority rules: which invoices, messages and platforms go first.

A record's priority is the sum of the points of the rules it meets (0: first in, first out). The
points of a rule marked *Boost in close windows* are multiplied by the factor of the close window open
today (month-end close, payment-run days). Claims order by ``priority DESC, id``.
"""

from datetime import timedelta

from odoo import api, fields, models, tools

# States in which a staging record still waits for processing (its priority still matters).
WAITING_STATES = ("received", "validated", "matched", "exception")


class ApSyncPriorityRule(models.Model):
    _name = "ap.sync.priority.rule"
    _description = "AP Sync Priority Rule"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", index=True, help="Empty: every company.")
    rule_type = fields.Selection(
        [
            ("amount", "High value"),
            ("due_date", "Due soon"),
            ("vendor", "Vendor"),
            ("platform", "Platform"),
        ],
        required=True,
        default="amount",
    )
    amount_min = fields.Float(
        string="Amount at Least",
        help="High value: the invoice's gross amount (in its currency) from which it applies.",
    )
    due_days = fields.Integer(
        default=5, help="Due soon: applies when the due date is at most this many days away (or past)."
    )
    partner_id = fields.Many2one(
        "res.partner", string="Vendor", help="Vendor: this vendor's invoices and messages."
    )
    platform_id = fields.Many2one(
        "ap.platform", help="Platform: everything of this platform, and its pull goes before the others'."
    )
    points = fields.Integer(
        default=10, required=True, help="Added to the priority of every record the rule meets."
    )
    boost_in_close = fields.Boolean(
        string="Boost in Close Windows",
        default=True,
        help="During an open close window, the points are multiplied by the window's factor.",
    )

    # ------------------------------------------------------------------ evaluation
    @api.model
    def _get_rules(self, company, cache=None):
        """The rules of ``company`` as plain values (``cache``: a dict the caller keeps for one batch)."""
        cache = {} if cache is None else cache
        if company.id not in cache:
            cache[company.id] = self._get_rule_values(company.id, self.env.context.get("active_test", True))
        return cache[company.id]

    @api.model
    @tools.ormcache("company_id", "active_test")
    def _get_rule_values(self, company_id, active_test=True):
        """The rules of a company as plain values, kept by the process until a rule is created, changed
        or deleted (every webhook computes a priority: no search for each). Read-only for callers."""
        rules = (
            self.sudo()
            .with_context(active_test=active_test)
            .search([("company_id", "in", (False, company_id))])
        )
        return tuple(
            {
                "type": r.rule_type, "amount_min": r.amount_min, "due_days": r.due_days,
                "partner_id": r.partner_id.id, "platform_id": r.platform_id.id,
                "points": r.points, "boost": r.boost_in_close,
            }
            for r in rules
        )  # fmt: skip

    @api.model
    def _get_today(self, cache):
        """``fields.Date.context_today(self)``, once per batch; the user's time zone from the context,
        else from the user's preferences as the process keeps them (``res.users.context_get``, what
        Odoo puts in a session's context), not read for each webhook."""
        if "today" not in cache:
            tz = self.env.context.get("tz") or self.env["res.users"].context_get().get("tz")
            cache["today"] = fields.Date.context_today(self.with_context(tz=tz or "UTC"))
        return cache["today"]

    @api.model
    def _score(self, company, amount=0.0, due_date=None, partner=None, platform=None, today=None, cache=None):
        """Priority of a record with these facts, today (``cache``: a dict shared by a batch of calls)."""
        if not company:
            return 0
        cache = {} if cache is None else cache
        today = today or self._get_today(cache)
        factor = self.env["ap.sync.close.window"]._get_factor(company, today, cache=cache)
        total = 0.0
        for rule in self._get_rules(company, cache=cache):
            kind = rule["type"]
            if kind == "amount":
                met = rule["amount_min"] > 0 and abs(amount or 0.0) >= rule["amount_min"]
            elif kind == "due_date":
                met = bool(due_date) and due_date <= today + timedelta(days=rule["due_days"])
            elif kind == "vendor":
                met = bool(partner) and partner.id == rule["partner_id"]
            else:
                met = bool(platform) and platform.id == rule["platform_id"]
            if met:
                total += rule["points"] * (factor if rule["boost"] else 1.0)
        return int(round(total))

    # ------------------------------------------------------------------ refresh
    @api.model
    def _refresh_priorities(self):
        """Recompute what depends on rules, windows and the date: waiting records, pending messages,
        platforms. Called when rules or windows change, and by the daily scheduled action."""
        Staging = self.env["ap.invoice.staging"].sudo()
        waiting = Staging.search([("state", "in", WAITING_STATES)])
        waiting._compute_priority()
        waiting.flush_recordset(["priority"])
        Outbox = self.env["ap.sync.outbox"].sudo()
        pending = Outbox.search([("state", "=", "pending")])
        pending._update_priority()
        self.env["ap.platform"].sudo().with_context(active_test=False).search([])._compute_priority()
        return len(waiting) + len(pending)

    @api.model
    def _cron_refresh_priorities(self):
        """Scheduled action (daily, just after midnight): due dates come closer, close windows open."""
        return self._refresh_priorities()

    @api.model_create_multi
    def create(self, vals_list):
        rules = super().create(vals_list)
        self.env.registry.clear_cache()  # _get_rule_values
        self._refresh_priorities()
        return rules

    def write(self, vals):
        result = super().write(vals)
        self.env.registry.clear_cache()  # _get_rule_values
        self._refresh_priorities()
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()  # _get_rule_values
        self._refresh_priorities()
        return result
