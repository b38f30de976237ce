"""The staging reference's sequence, found once per process: every webhook takes a number, and
``next_by_code`` searches for the sequence each time before reading it."""

from odoo import api, models, tools

# The codes whose sequence the process keeps (see _ap_sync_sequence_id).
CACHED_CODES = ("ap.invoice.staging",)


class IrSequence(models.Model):
    _inherit = "ir.sequence"

    @api.model
    def _ap_sync_next_by_code(self, code):
        """``next_by_code(code)`` (the sequence of the current company, else the shared one), with the
        sequence found from the process's cache instead of a search."""
        self.browse().check_access("read")
        sequence_id = self._ap_sync_sequence_id(code, self.env.company.id)
        return self.browse(sequence_id)._next() if sequence_id else False

    @api.model
    @tools.ormcache("code", "company_id")
    def _ap_sync_sequence_id(self, code, company_id):
        """The id ``next_by_code`` would find, or None; kept until a sequence of one of the
        ``CACHED_CODES`` is created, changed or deleted (in any process: Odoo signals a cleared cache)."""
        domain = [("code", "=", code), ("company_id", "in", [company_id, False])]
        return self.sudo().search(domain, order="company_id", limit=1).id or None

    def _ap_sync_is_cached(self, vals=None):
        return any(code in CACHED_CODES for code in [*self.mapped("code"), (vals or {}).get("code")])

    @api.model_create_multi
    def create(self, vals_list):
        sequences = super().create(vals_list)
        if sequences._ap_sync_is_cached():
            self.env.registry.clear_cache()
        return sequences

    def write(self, vals):
        cached = bool({"code", "company_id", "active"} & set(vals)) and self._ap_sync_is_cached(vals)
        result = super().write(vals)
        if cached:
            self.env.registry.clear_cache()
        return result

    def unlink(self):
        cached = self._ap_sync_is_cached()
        result = super().unlink()
        if cached:
            self.env.registry.clear_cache()
        return result
