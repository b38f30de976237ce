"""Decimal precisions remembered while a document is stored (``remembered_precisions``).

Every Float field with a named precision (``digits="Product Price"``) asks for it at each value it
converts: storing a staged invoice of five lines asks about forty times (the lines' quantity and
price, and the matching fields a new line stores as 0.0). ``precision_get`` is cached by
``ormcache``, but each call still binds its arguments through the ``decorator`` package, which costs
more than the lookup itself (about 1.5 ms of a webhook's 30 ms of work).

Inside ``remembered_precisions(env)`` the cursor remembers what it read: the same values, since the
block runs inside one transaction (one snapshot), and a precision created, changed or deleted in it
forgets them. Outside such a block nothing changes: ``precision_get`` is Odoo's.
"""

import contextlib

from odoo import api, models

MEMO_KEY = "account_ap_sync.precision"


@contextlib.contextmanager
def remembered_precisions(env):
    """Remember the decimal precisions read by ``env``'s cursor until the block ends (re-entrant)."""
    cache = env.cr.cache
    if MEMO_KEY in cache:
        yield
        return
    cache[MEMO_KEY] = {}
    try:
        yield
    finally:
        cache.pop(MEMO_KEY, None)


class DecimalPrecision(models.Model):
    _inherit = "decimal.precision"

    @api.model
    def precision_get(self, application):
        cache = self.env.cr.cache
        memo = cache.get(MEMO_KEY)
        # account's override answers 'Discount' by a flag of the cursor: not remembered while it is set.
        if memo is None or cache.get("account_disable_recursion_stack"):
            return super().precision_get(application)
        try:
            return memo[application]
        except KeyError:
            digits = memo[application] = super().precision_get(application)
            return digits

    def _ap_sync_forget_precisions(self):
        memo = self.env.cr.cache.get(MEMO_KEY)
        if memo:
            memo.clear()

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        self._ap_sync_forget_precisions()
        return records

    def write(self, vals):
        result = super().write(vals)
        self._ap_sync_forget_precisions()
        return result

    def unlink(self):
        result = super().unlink()
        self._ap_sync_forget_precisions()
        return result
