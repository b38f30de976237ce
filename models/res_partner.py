from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    ap_tolerance_override = fields.Boolean(
        string="Own AP Matching Tolerances",
        help="Use the tolerances below instead of the company's for this vendor.",
    )
    ap_price_tolerance_percent = fields.Float(string="AP Price Tolerance (%)")
    ap_price_tolerance_amount = fields.Float(string="AP Price Tolerance (amount)")
    ap_qty_tolerance_percent = fields.Float(string="AP Quantity Tolerance (%)")
    ap_qty_tolerance_amount = fields.Float(string="AP Quantity Tolerance (units)")

    def _ap_tolerances(self, company):
        """(price %, price amount, qty %, qty units) for this vendor in ``company``."""
        source = self.commercial_partner_id if self.commercial_partner_id.ap_tolerance_override else company
        return (
            source.ap_price_tolerance_percent,
            source.ap_price_tolerance_amount,
            source.ap_qty_tolerance_percent,
            source.ap_qty_tolerance_amount,
        )
