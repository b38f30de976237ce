import logging

from odoo import api, models

from ..utils import crypto

_logger = logging.getLogger(__name__)

# A documented demo value, used only by the demo data (README.rst, "Demo").
DEMO_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DEMO_API_KEY = "demo-api-key"


class ApPlatform(models.Model):
    _inherit = "ap.platform"

    @api.model
    def _demo_setup(self, platform_ids, purchase_order_ids, partly_received_po_id):
        """Demo data that XML cannot express: secrets, confirmed POs and a partial receipt."""
        platforms = self.browse(platform_ids)
        if crypto.has_key():
            for platform in platforms:
                platform.sudo().write({"webhook_secret": DEMO_WEBHOOK_SECRET, "api_key": DEMO_API_KEY})
        else:
            _logger.info(
                "AP Sync demo: no encryption key configured (%s), demo platform secrets not stored",
                crypto.CONFIG_OPTION,
            )
        orders = self.env["purchase.order"].browse(purchase_order_ids)
        orders.filtered(lambda order: order.state in ("draft", "sent")).button_confirm()
        partly = self.env["purchase.order"].browse(partly_received_po_id)
        for picking in partly.picking_ids.filtered(lambda p: p.state not in ("done", "cancel")):
            for move in picking.move_ids:
                # Receive half of the paper and all chairs: a partial receipt with a backorder.
                move.quantity = (
                    move.product_uom_qty / 2
                    if move.product_id.default_code == "PAPER-A4"
                    else move.product_uom_qty
                )
                move.picked = True
            picking._action_done()
