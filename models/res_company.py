from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    ap_price_tolerance_percent = fields.Float(
        string="AP Price Tolerance (%)",
        default=2.0,
        help="Invoice unit price may exceed the PO price by this much.",
    )
    ap_price_tolerance_amount = fields.Float(
        string="AP Price Tolerance (amount)",
        default=0.0,
        help="... or by this absolute amount, whichever is larger.",
    )
    ap_qty_tolerance_percent = fields.Float(
        string="AP Quantity Tolerance (%)",
        default=0.0,
        help="Billed quantity may exceed what is billable by this much.",
    )
    ap_qty_tolerance_amount = fields.Float(
        string="AP Quantity Tolerance (units)",
        default=0.0,
        help="... or by this many units, whichever is larger.",
    )
