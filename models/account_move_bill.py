from odoo import models

from . import account_move  # noqa: F401  (its _post comes first in the chain)


class AccountMove(models.Model):
    _inherit = "account.move"

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        bill_moves = posted.filtered(
            lambda m: m.ap_staging_id and m.ap_staging_id.platform_id.provider == "bill"
        )
        if bill_moves:
            self.env["ap.bill.payment"]._apply_pending(bill_moves)
        return posted
