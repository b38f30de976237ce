"""Governance settings of a platform: environment guard, shadow mode, rollout scope, posting controls.

The outbound guard is one hook, :meth:`_check_outbound_allowed`, called at the start of every call to
the platform (``ap.platform._call``) and by the outbox before it delivers: a neutralized database,
a platform switched off by neutralization, a production platform reached from another URL than the
one it was registered with, or a platform in shadow mode never sends anything.
"""

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..exceptions import PlatformCallError

SCOPE_FIELDS = {
    "scope_company_ids",
    "scope_invoices",
    "scope_credit_notes",
    "scope_po_backed",
    "scope_non_po",
}


def normalize_url(url):
    return (url or "").strip().rstrip("/").lower()


class ApPlatform(models.Model):
    _inherit = "ap.platform"

    # Environment guard
    environment = fields.Selection(
        [("production", "Production"), ("sandbox", "Sandbox")],
        required=True,
        default="production",
        tracking=True,
        help="Production: refused from a neutralized database, or from another web.base.url than the one "
        "the platform was registered with. Sandbox: a test tenant of the platform, callable from copies.",
    )
    registered_base_url = fields.Char(
        string="Registered Odoo URL",
        readonly=True,
        copy=False,
        tracking=True,
        help="web.base.url of this database when the platform was registered (or re-enabled). A production "
        "platform is not called from a database whose web.base.url differs.",
    )
    neutralized = fields.Boolean(
        readonly=True,
        copy=False,
        tracking=True,
        help="Set by 'odoo neutralize' (data/neutralize.sql): no call to the platform, its webhooks answer "
        "503 and store nothing, until an admin re-enables it with new credentials.",
    )
    outbound_block_reason = fields.Char(
        compute="_compute_outbound_block_reason", string="Outbound Calls Blocked",
        help="Why this database does not call the platform now (empty: calls are allowed).",
    )  # fmt: skip
    # Shadow mode (go-live rehearsal)
    shadow_mode = fields.Boolean(
        tracking=True,
        help="Go-live rehearsal: every processing step runs and its outcome (the bill it would create, or "
        "the exception) is recorded, but no bill is created and nothing is sent to the platform. Switching "
        "it off processes the recorded documents for real.",
    )
    # Rollout scope
    scope_company_ids = fields.Many2many(
        "res.company",
        "ap_platform_scope_company_rel",
        "platform_id",
        "company_id",
        string="Live Companies",
        help="Companies whose documents are processed. Empty: every company the platform routes to.",
    )
    scope_invoices = fields.Boolean(string="Invoices Live", default=True, tracking=True)
    scope_credit_notes = fields.Boolean(string="Credit Notes Live", default=True, tracking=True)
    scope_po_backed = fields.Boolean(
        string="PO-backed Live", default=True, tracking=True, help="Documents that name a purchase order."
    )
    scope_non_po = fields.Boolean(
        string="Non-PO Live", default=True, tracking=True, help="Documents without a purchase order."
    )
    out_of_scope_count = fields.Integer(compute="_compute_governance_counts")
    shadow_count = fields.Integer(compute="_compute_governance_counts")
    # Posting controls
    segregation_of_duties = fields.Boolean(
        default=True,
        tracking=True,
        help="The person who posts a bill must not be one of the document's approvers on the platform "
        "(matched by e-mail); the integration user never posts except by auto-post when every check passed.",
    )
    posting_tolerance = fields.Float(
        digits="Account",
        tracking=True,
        help="Largest difference in total or untaxed amount between a bill and its approved document that "
        "posting accepts. Zero: the currency's rounding (and one unit per line for the total's tax rounding).",
    )
    integration_user_id = fields.Many2one(
        "res.users",
        tracking=True,
        help="The user the platform's integration runs as, besides the system user: never posts a bill "
        "except by auto-post when every check passed.",
    )

    # ------------------------------------------------------------------ create / write
    @api.model_create_multi
    def create(self, vals_list):
        base = self._get_current_base_url()
        for vals in vals_list:
            vals.setdefault("registered_base_url", base)
        return super().create(vals_list)

    def write(self, vals):
        leaving_shadow = self.filtered("shadow_mode") if vals.get("shadow_mode") is False else self.browse()
        if "neutralized" in vals and not self.env.su:
            raise UserError(
                _("Use 'Re-enable' to take a neutralized platform back into use (new credentials).")
            )
        if "registered_base_url" in vals and not self.env.su:
            raise UserError(_("The registered URL is set by 'Register this URL' or 'Re-enable'."))
        result = super().write(vals)
        if leaving_shadow:
            leaving_shadow._release_shadow()
        if SCOPE_FIELDS & set(vals):
            self._release_out_of_scope()
        if vals.get("shadow_mode") is False or vals.get("active") or SCOPE_FIELDS & set(vals):
            self._release_outbox()
        return result

    # ------------------------------------------------------------------ environment guard
    @api.model
    def _get_current_base_url(self):
        return self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")

    @api.model
    def _is_database_neutralized(self):
        # Read from the table (not the parameter cache): `odoo neutralize` writes it with SQL.
        self.env["ir.config_parameter"].flush_model(["key", "value"])
        self.env.cr.execute("SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'")
        row = self.env.cr.fetchone()
        return bool(row and row[0] and row[0].lower() not in ("false", "0"))

    def _get_outbound_block(self, event_type=None):
        """Why this platform must not be called from this database now, or False.

        In shadow mode the one call allowed is the scheduled pull (``event_type`` "pull"): it only reads
        the platform's approved invoices, so that a pulled platform can be rehearsed too."""
        self.ensure_one()
        if not self.active:
            return _(
                "Platform %s is archived: nothing is sent to it until it is restored.", self.display_name
            )
        if self.neutralized:
            return _(
                "Platform %s was neutralized (database copy): an administrator must re-enable it with new "
                "credentials.",
                self.display_name,
            )
        if self.shadow_mode and event_type != "pull":
            return _("Platform %s is in shadow mode: nothing is sent to it.", self.display_name)
        if self.environment == "production":
            if self._is_database_neutralized():
                return _(
                    "This database is neutralized: it never calls the production platform %s.",
                    self.display_name,
                )
            registered, current = (
                normalize_url(self.registered_base_url),
                normalize_url(self._get_current_base_url()),
            )
            if registered and registered != current:
                return _(
                    "This database runs at %(current)s, but the production platform %(name)s was registered "
                    "from %(registered)s: it is not called from another installation.",
                    current=current or "-",
                    name=self.display_name,
                    registered=registered,
                )
        return False

    def _check_outbound_allowed(self, event_type=None):
        """Raise a permanent :class:`PlatformCallError` when this platform must not be called."""
        res = super()._check_outbound_allowed(event_type)
        reason = self._get_outbound_block(event_type)
        if reason:
            raise PlatformCallError(reason, transient=False)
        return res

    def _compute_outbound_block_reason(self):
        for platform in self:
            platform.outbound_block_reason = platform._get_outbound_block() if platform.id else False

    def _compute_governance_counts(self):
        Staging = self.env["ap.invoice.staging"]
        counts = {
            (platform.id, state): count
            for platform, state, count in Staging._read_group(
                [("platform_id", "in", self.ids), ("state", "in", ("out_of_scope", "shadow"))],
                ["platform_id", "state"],
                ["__count"],
            )
        }
        for platform in self:
            platform.out_of_scope_count = counts.get((platform.id, "out_of_scope"), 0)
            platform.shadow_count = counts.get((platform.id, "shadow"), 0)

    def action_register_base_url(self):
        """A manager confirms that this installation (its current web.base.url) is the registered one."""
        self.check_access("write")
        if self._is_database_neutralized():
            raise UserError(_("This database is neutralized: re-enable the platform instead."))
        base = self._get_current_base_url()
        for platform in self:
            platform.sudo().registered_base_url = base
            platform.message_post(
                body=_("Registered from %(url)s by %(user)s.", url=base, user=self.env.user.name)
            )
        return True

    def action_open_reenable(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Re-enable platform"),
            "res_model": "ap.platform.reenable",
            "view_mode": "form",
            "target": "new",
            "context": {"default_platform_id": self.id},
        }

    def _reenable(self, environment, api_key, webhook_secret, base_url=None):
        """Take a neutralized platform back into use with new credentials (admin only)."""
        self.ensure_one()
        if not self.env.user.has_group("base.group_system"):
            raise UserError(_("Only an administrator may re-enable a neutralized platform."))
        if not (api_key or "").strip() or not (webhook_secret or "").strip():
            raise UserError(_("A re-enabled platform needs a new API key and a new webhook secret."))
        if environment == "production" and self._is_database_neutralized():
            raise UserError(
                _("This database is neutralized: it can only use a sandbox platform. Choose Sandbox.")
            )
        Secret = self.env["ap.platform.secret"]
        for kind in ("api_key", "webhook_secret", "webhook_secret_previous"):
            Secret._set(self, kind, None)
        values = {"environment": environment, "api_key": api_key, "webhook_secret": webhook_secret}
        if base_url:
            values["base_url"] = base_url
        self.write(values)
        self.sudo().write({"neutralized": False, "registered_base_url": self._get_current_base_url()})
        self.message_post(
            body=_("Re-enabled by %(user)s as %(env)s with new credentials.", user=self.env.user.name,
                   env=dict(self._fields["environment"].selection)[environment])
        )  # fmt: skip
        self._release_outbox()
        return True

    # ------------------------------------------------------------------ scope and shadow
    def _release_shadow(self):
        """Shadow mode is off: the recorded documents are processed for real."""
        records = (
            self.env["ap.invoice.staging"]
            .sudo()
            .search([("platform_id", "in", self.ids), ("state", "=", "shadow")])
        )
        records._requeue(_("Shadow mode switched off: processed for real."))

    def _release_out_of_scope(self):
        """The scope changed: documents now in scope are processed."""
        records = (
            self.env["ap.invoice.staging"]
            .sudo()
            .search([("platform_id", "in", self.ids), ("state", "=", "out_of_scope")])
        )
        records.filtered(lambda r: not r._get_scope_problem())._requeue(_("Now in the rollout scope."))

    def _release_outbox(self):
        """Messages held back while calls were blocked are due again."""
        for platform in self:
            if platform._get_outbound_block():
                continue
            held = (
                self.env["ap.sync.outbox"]
                .sudo()
                .search([("platform_id", "=", platform.id), ("state", "=", "pending"), ("held", "=", True)])
            )
            held.write({"next_attempt_at": False, "held": False, "last_error": False})
            if held:
                self.env.ref("account_ap_sync.ir_cron_ap_sync_deliver").sudo()._trigger()
