from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..models.ap_sync_exception import OPEN_STATES
from ..models.ap_sync_mapping import tax_key

ACTIONS = [
    ("link_vendor", "Link a vendor"),
    ("add_mapping", "Add a mapping"),
    ("accept_variance", "Accept the variance"),
    ("not_duplicate", "Not a duplicate"),
    ("reject", "Reject to the platform"),
    ("ignore", "Ignore"),
]


class ApSyncExceptionResolve(models.TransientModel):
    """One wizard for the ways a person resolves an exception; each resumes processing and leaves a note."""

    _name = "ap.sync.exception.resolve"
    _description = "AP Sync Exception Resolution"

    exception_ids = fields.Many2many("ap.sync.exception", string="Exceptions", required=True)
    action = fields.Selection(ACTIONS, required=True)
    exception_type = fields.Selection(related="exception_ids.exception_type")
    company_id = fields.Many2one("res.company", compute="_compute_context_fields")
    candidate_ids = fields.Many2many("res.partner", compute="_compute_context_fields")
    supplier_summary = fields.Char(compute="_compute_context_fields", string="Invoice Says")
    partner_id = fields.Many2one(
        "res.partner",
        string="Vendor",
        domain="[('parent_id', '=', False), ('company_id', 'in', (False, company_id))]",
    )
    remember = fields.Boolean(
        string="Remember for next time",
        help="Add a vendor mapping: the platform's vendor id will find this vendor directly from now on.",
    )
    mapping_type = fields.Selection([("tax", "Tax"), ("account", "Account")])
    external_code = fields.Char(help="The platform's value: tax 'CATEGORY/RATE' (e.g. S/21) or account code.")
    tax_id = fields.Many2one(
        "account.tax", domain="[('type_tax_use', '=', 'purchase'), ('company_id', '=', company_id)]"
    )
    account_id = fields.Many2one(
        "account.account", domain="[('company_ids', 'in', company_id), ('deprecated', '=', False)]"
    )
    reason = fields.Text(
        help="Kept on the exception, the invoice and, for a rejection, sent to the platform."
    )

    @api.depends("exception_ids")
    def _compute_context_fields(self):
        for wizard in self:
            staging = wizard.exception_ids.staging_id[:1]
            wizard.company_id = wizard.exception_ids.company_id[:1]
            wizard.candidate_ids = wizard.exception_ids.vendor_candidate_ids
            parts = [
                staging.supplier_name,
                staging.supplier_vat,
                staging.supplier_iban,
                staging.supplier_external_id,
            ]
            wizard.supplier_summary = " · ".join(part for part in parts if part)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        ctx = self.env.context
        exceptions = self.env["ap.sync.exception"].browse(
            ctx.get("default_exception_ids") or ctx.get("active_ids") or []
        )
        if "exception_ids" in fields_list and not values.get("exception_ids"):
            values["exception_ids"] = [(6, 0, exceptions.ids)]
        first = exceptions[:1]
        if values.get("action") == "add_mapping" and first.staging_id:
            kind = "tax" if first.exception_type == "tax_mapping" else "account"
            values["mapping_type"] = kind
            unmapped = first.staging_id.line_ids.filtered(lambda line: not line.account_id)
            for line in unmapped or first.staging_id.line_ids:
                if kind == "tax" and line.tax_category:
                    values["external_code"] = tax_key(line.tax_category, line.tax_rate_text())
                    break
                if kind == "account" and line.account_code:
                    values["external_code"] = line.account_code
                    break
        if values.get("action") == "link_vendor" and len(first.vendor_candidate_ids.filtered("active")) == 1:
            values["partner_id"] = first.vendor_candidate_ids.filtered("active").id
        return values

    def action_confirm(self):
        self.ensure_one()
        exceptions = self.exception_ids
        if self.action == "link_vendor":
            if not self.partner_id:
                raise UserError(_("Choose the vendor to link."))
            exceptions._do_link_vendor(self.partner_id, remember=self.remember)
        elif self.action == "add_mapping":
            target = self.tax_id if self.mapping_type == "tax" else self.account_id
            if not (self.mapping_type and (self.external_code or "").strip() and target):
                raise UserError(_("Give the platform's code and the Odoo tax or account it stands for."))
            exceptions._do_add_mapping(self.mapping_type, self.external_code, target)
        elif self.action == "accept_variance":
            exceptions._do_override("variance", self.reason)
        elif self.action == "not_duplicate":
            exceptions._do_override("duplicate", self.reason)
        elif self.action == "reject":
            exceptions._do_reject(self.reason)
        elif self.action == "ignore":
            exceptions._do_ignore(self.reason)
        if len(exceptions) == 1 and exceptions.move_id:
            return exceptions.action_open_bill()
        return {"type": "ir.actions.act_window_close"}


class ApSyncExceptionAssign(models.TransientModel):
    """Bulk assignment from the list: the open activity moves to the assignee, none is added."""

    _name = "ap.sync.exception.assign"
    _description = "AP Sync Exception Assignment"

    exception_ids = fields.Many2many("ap.sync.exception", string="Exceptions", required=True)
    user_id = fields.Many2one(
        "res.users", string="Assignee", required=True,
        domain=lambda self: [("groups_id", "in", self.env.ref("account_ap_sync.group_ap_sync_user").id),
                             ("share", "=", False)],
    )  # fmt: skip

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if "exception_ids" in fields_list and not values.get("exception_ids"):
            active_ids = self.env.context.get("active_ids") or []
            values["exception_ids"] = [(6, 0, active_ids)]
        return values

    def action_confirm(self):
        exceptions = self.exception_ids.filtered(lambda r: r.state in OPEN_STATES)
        # One notification for the whole assignment, not one e-mail per exception.
        exceptions.with_context(mail_auto_subscribe_no_notify=True).write({"user_id": self.user_id.id})
        if exceptions and self.user_id != self.env.user:
            self.env["ap.sync.exception"].message_notify(
                partner_ids=self.user_id.partner_id.ids,
                subject=_("%s AP Sync exceptions assigned to you", len(exceptions)),
                body=Markup("<p>%s</p><ul>%s</ul>")
                % (
                    _("%(by)s assigned you these exceptions:", by=self.env.user.name),
                    Markup("").join(Markup("<li>%s</li>") % name for name in exceptions.mapped("name")),
                ),
            )
        for record in exceptions:
            record.message_post(
                body=_("Assigned to %(user)s by %(by)s.", user=self.user_id.name, by=self.env.user.name)
            )
        return {"type": "ir.actions.act_window_close"}
