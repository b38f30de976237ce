import re
from decimal import Decimal, InvalidOperation

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

MAPPING_TYPES = [
    ("vendor", "Vendor"),
    ("tax", "Tax"),
    ("account", "Account"),
    ("analytic", "Analytic Account"),
    ("company", "Company"),
    ("uom", "Unit of Measure"),
]
# mapping type -> the field that holds the Odoo record
TARGET_FIELDS = {
    "vendor": "partner_id",
    "tax": "tax_id",
    "account": "account_id",
    "analytic": "analytic_account_id",
    "company": "company_id",
    "uom": "uom_id",
}


def tax_key(category, rate):
    """Normalized external code of a tax: ``S/21``, ``Z/0``, ``S/5.5``."""
    try:
        rate_text = format(Decimal(str(rate)).normalize(), "f")
    except (InvalidOperation, ValueError):
        rate_text = str(rate)
    return f"{(category or '').strip().upper()}/{rate_text}"


class ApSyncMapping(models.Model):
    """What a platform's code means in Odoo: vendor ids, tax categories and rates, account and
    analytic codes, company entities, units of measure. Per company, optionally per platform (a
    platform-specific row wins over a company-wide one). Importable from CSV; changes are tracked."""

    _name = "ap.sync.mapping"
    _description = "AP Sync Mapping"
    _inherit = ["mail.thread", "ap.sync.input.mixin"]
    _order = "mapping_type, external_code, id"
    _check_company_auto = True

    mapping_type = fields.Selection(MAPPING_TYPES, string="Type", required=True, tracking=True, index=True)
    external_code = fields.Char(
        required=True,
        tracking=True,
        index=True,
        help="The platform's value: vendor external_id, tax 'CATEGORY/RATE' (e.g. S/21), account or analytic "
        "code, company external_id, unit code (e.g. C62).",
    )
    platform_id = fields.Many2one(
        "ap.platform",
        tracking=True,
        index=True,
        check_company=True,
        help="Empty: every platform of the company.",
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        tracking=True,
        index=True,
        help="For a company mapping: the company the entity id stands for.",
    )
    partner_id = fields.Many2one("res.partner", string="Vendor", tracking=True, check_company=True)
    tax_id = fields.Many2one(
        "account.tax",
        tracking=True,
        check_company=True,
        domain="[('type_tax_use', '=', 'purchase')]",
    )
    account_id = fields.Many2one("account.account", tracking=True, check_company=True)
    analytic_account_id = fields.Many2one("account.analytic.account", tracking=True)
    uom_id = fields.Many2one("uom.uom", string="Unit of Measure", tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    note = fields.Char()

    _sql_constraints = [
        (
            "mapping_uniq",
            "unique(company_id, platform_id, mapping_type, external_code)",
            "This code is already mapped for this company and platform.",
        ),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._normalize_vals(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._normalize_vals(vals, self[:1].mapping_type)
        return super().write(vals)

    @api.model
    def _normalize_vals(self, vals, mapping_type=None):
        kind = vals.get("mapping_type") or mapping_type
        if not isinstance(vals.get("external_code"), str):
            return  # not a text (or empty): the input rules refuse it with a readable message
        if kind == "tax" and vals.get("external_code") and "/" in vals["external_code"]:
            category, rate = vals["external_code"].split("/", 1)
            vals["external_code"] = tax_key(category, rate)
        elif vals.get("external_code"):
            vals["external_code"] = vals["external_code"].strip()

    @api.constrains(
        "mapping_type", "partner_id", "tax_id", "account_id", "analytic_account_id", "uom_id", "external_code"
    )
    def _check_target(self):
        for mapping in self:
            if not mapping[TARGET_FIELDS[mapping.mapping_type]]:
                raise ValidationError(
                    _("A %s mapping needs its Odoo record.", dict(MAPPING_TYPES)[mapping.mapping_type])
                )
            if mapping.mapping_type == "tax" and not re.match(
                r"^[A-Z0-9]{1,10}/-?[0-9.]+$", mapping.external_code
            ):
                raise ValidationError(_("A tax mapping's code is CATEGORY/RATE, e.g. S/21."))

    def _compute_display_name(self):
        for mapping in self:
            target = mapping[TARGET_FIELDS.get(mapping.mapping_type, "partner_id")]
            mapping.display_name = f"{mapping.external_code} → {target.display_name or '?'}"

    @api.model
    def _set_vendor(self, external_code, partner, company, platform=None):
        """Map the platform's vendor ``external_code`` to ``partner`` for ``company`` (and ``platform``):
        the existing row is pointed at it (and restored if archived), else one is created. Returns it.
        Runs with the caller's rights: the caller decides whether a person's mapping rights apply."""
        code = external_code.strip()
        mapping = self.with_context(active_test=False).search(
            [("mapping_type", "=", "vendor"), ("external_code", "=", code), ("company_id", "=", company.id),
             ("platform_id", "=", platform.id if platform else False)], limit=1,
        )  # fmt: skip
        if not mapping:
            return self.create({"mapping_type": "vendor", "external_code": code, "partner_id": partner.id,
                                "company_id": company.id, "platform_id": platform.id if platform else False})  # fmt: skip
        if mapping.partner_id != partner or not mapping.active:
            mapping.write({"partner_id": partner.id, "active": True})
        return mapping.with_env(self.env)

    @api.model
    def _lookup(self, mapping_type, code, company=None, platform=None):
        """The Odoo record mapped to ``code`` (platform-specific first), or an empty recordset."""
        if not code:
            return self.env[self._fields[TARGET_FIELDS[mapping_type]].comodel_name]
        if mapping_type == "tax":
            code = tax_key(*code) if isinstance(code, tuple) else code
        domain = [("mapping_type", "=", mapping_type), ("external_code", "=", str(code).strip())]
        if company is not None:
            domain.append(("company_id", "=", company.id))
        if platform is not None:
            domain += ["|", ("platform_id", "=", platform.id), ("platform_id", "=", False)]
        rows = self.sudo().search(domain, order="platform_id desc nulls last, id")
        field = TARGET_FIELDS[mapping_type]
        return rows[:1][field] if rows else self.env[self._fields[field].comodel_name]
