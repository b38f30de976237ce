"""Platform: pull order by priority (platform rules, boosted in close windows)."""

from odoo import _, api, fields, models
from odoo.exceptions import UserError


class ApPlatform(models.Model):
    _inherit = "ap.platform"

    priority = fields.Integer(
        compute="_compute_priority",
        store=True,
        readonly=True,
        index=True,
        help="Points of the platform priority rules: due pulls go by priority, then by sequence.",
    )

    @api.depends("company_id")
    def _compute_priority(self):
        Rule = self.env["ap.sync.priority.rule"]
        for platform in self:
            platform.priority = Rule._score(platform.company_id, platform=platform) if platform.id else 0

    # ------------------------------------------------------------------ reconciliation
    def _reconcile_fetch_page(self, updated_since=None, cursor=None, limit=100):
        """One page of the platform's documents, whatever their status, for reconciliation.

        The single place reconciliation talks to the platform: today the generic ``GET /invoices`` of
        the contract (without ``status``: every status); a provider may route it to its own list call.
        Returns ``(documents, next_cursor)``; raises :class:`PlatformCallError` or ``UserError``.
        """
        self.ensure_one()
        params = {"limit": limit}
        if updated_since:
            params["updated_since"] = updated_since
        if cursor:
            params["cursor"] = cursor
        response = self._call("GET", "/invoices", params=params, event_type="reconcile")
        if not response.ok:
            raise UserError(
                _(
                    "The platform answered HTTP %(status)s to the reconciliation listing.",
                    status=response.status_code,
                )
            )
        try:
            page = response.json()
            documents = page["data"]
            if not isinstance(documents, list):
                raise TypeError("data is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(
                _("The platform answered a page that is not {data, next_cursor}: %s", exc)
            ) from exc
        return [d for d in documents if isinstance(d, dict)], page.get("next_cursor")

    def action_open_reconciliation(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Reconcile %s", self.name),
            "res_model": "ap.sync.reconciliation",
            "views": [(False, "form")],
            "context": {"default_platform_id": self.id},
        }
