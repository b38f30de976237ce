"""BILL notifications that have no canonical type: the payments (payment.updated, payment.failed)."""

from odoo import api, models

BILL_PAYMENT_EVENTS = ("bill.payment.updated", "bill.payment.failed")


class ApSyncEvent(models.Model):
    _inherit = "ap.sync.event"

    @api.model
    def _get_event_schemas(self):
        schemas = super()._get_event_schemas()
        schemas.update(dict.fromkeys(BILL_PAYMENT_EVENTS, ("bill-payment", None)))
        return schemas

    @api.model
    def _get_event_handlers(self):
        handlers = super()._get_event_handlers()
        handlers.update(dict.fromkeys(BILL_PAYMENT_EVENTS, "_apply_bill_payment"))
        return handlers

    def _apply_bill_payment(self, data):
        self.env["ap.bill.payment"].sudo()._from_notification(self, data)
