from odoo import api, fields, models

from .ap_invoice_staging import to_decimal


class ApInvoiceStagingLine(models.Model):
    """A line of a staged invoice, as received."""

    _name = "ap.invoice.staging.line"
    _description = "AP Invoice Staging Line"
    _order = "staging_id, sequence, id"

    staging_id = fields.Many2one("ap.invoice.staging", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="staging_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="staging_id.currency_id")
    sequence = fields.Integer(default=10)
    line_ref = fields.Char(string="Line ID", help="The platform's line id.")
    description = fields.Char()
    product_code = fields.Char()
    quantity = fields.Float(digits="Product Unit of Measure")
    uom_code = fields.Char(string="UoM Code", help="UN/ECE rec. 20 code, e.g. C62 (unit), HUR (hour).")
    unit_price = fields.Float(digits="Product Price")
    net_amount = fields.Monetary(currency_field="currency_id")
    tax_category = fields.Char()
    tax_rate = fields.Float(digits=(16, 4))
    po_line_ref = fields.Char(string="PO Line Reference")
    account_code = fields.Char()
    analytic = fields.Json(help="Analytic distribution as received: code -> percentage.")

    @api.model
    def _prepare_from_line(self, line, index):
        tax = line.get("tax") or {}

        def number(value):
            result = to_decimal(value)
            return float(result) if result is not None else 0.0

        return {
            "sequence": index + 1,
            "line_ref": line.get("id") or False,
            "description": line.get("description") or False,
            "product_code": line.get("product_code") or False,
            "quantity": number(line.get("quantity")),
            "uom_code": line.get("uom") or False,
            "unit_price": number(line.get("unit_price")),
            "net_amount": number(line.get("net_amount")),
            "tax_category": tax.get("category") or False,
            "tax_rate": number(tax.get("rate")),
            "po_line_ref": line.get("po_line_ref") or False,
            "account_code": line.get("account_code") or False,
            "analytic": line.get("analytic") or False,
        }
