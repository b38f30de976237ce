"""Publication of Odoo's master data to the platforms: vendors and purchase orders.

Changes are collected during the transaction and turned into outbox messages just before it
commits (one per vendor or PO, whatever the number of writes: a burst coalesces), so the message
carries the final state and is written in the same transaction as the change.
"""

from odoo import api, models

from .ap_sync_mapping import tax_key

VENDOR_FIELDS = {
    "name", "vat", "company_registry", "email", "phone", "street", "street2", "zip", "city", "country_id",
    "bank_ids", "property_supplier_payment_term_id", "active",
}  # fmt: skip
PO_FIELDS = {"state", "partner_id", "currency_id", "order_line", "partner_ref"}
PO_LINE_FIELDS = {"product_qty", "price_unit", "product_id", "name", "taxes_id"}


def _collect(env, key, ids, flush_method):
    """Remember ``ids`` for the precommit hook ``flush_method`` (registered once per transaction)."""
    ids = [record_id for record_id in ids if isinstance(record_id, int)]  # no unsaved (onchange) records
    if not ids:
        return
    pending = env.cr.precommit.data.setdefault(key, set())
    if not pending:
        env.cr.precommit.add(flush_method)
    pending.update(ids)


def _money(value):
    return f"{value:.2f}"


class ApSyncOutboxPublish(models.Model):
    _inherit = "ap.sync.outbox"

    @api.model
    def _enqueue_coalesced(self, platform, kind, payload, target, document_key, source=None):
        """Write a message unless the newest untried one for the same target already carries this payload.

        Earlier untried messages are not rewritten (the delivery job may be sending them: no write
        conflicts with it); instead, delivery skips a message that a newer one for the same target
        supersedes, so a burst of changes reaches the platform as one message. Nothing is written when
        the platform's provider has no such call."""
        rendered = platform._render_outbound(kind, payload, target=target)
        if rendered is None:
            return self.browse()
        newest = self.sudo().search(
            [("platform_id", "=", platform.id), ("document_key", "=", document_key), ("state", "=", "pending"),
             ("attempts", "=", 0), ("method", "=", rendered["method"]), ("path", "=", rendered["path"])],
            order="id desc", limit=1,
        )  # fmt: skip
        if newest and newest.payload == payload:
            return newest
        return self._enqueue_message(platform, kind, payload, target, document_key, source=source)

    def _get_superseding(self):
        """A newer pending message carrying the full state of the same target (vendor, PO), if any."""
        self.ensure_one()
        if self.kind not in ("vendor", "vendor_request", "purchase_order"):
            return self.browse()
        return self.sudo().search(
            [("platform_id", "=", self.platform_id.id), ("document_key", "=", self.document_key),
             ("method", "=", self.method), ("path", "=", self.path), ("state", "=", "pending"), ("id", ">", self.id)],
            limit=1,
        )  # fmt: skip

    # ------------------------------------------------------------------ vendors
    @api.model
    def _vendor_payload(self, partner):
        partner = partner.commercial_partner_id
        return {
            "schema_version": "1.0",
            "name": partner.name,
            "vat": partner.vat or None,
            "company_registry": partner.company_registry or None,
            "email": partner.email or None,
            "phone": partner.phone or None,
            "address": {
                "street": partner.street or None,
                "zip": partner.zip or None,
                "city": partner.city or None,
                "country": partner.country_id.code or None,
            },
            "bank_accounts": [
                {
                    "iban": bank.acc_number,
                    "bic": bank.bank_bic or None,
                    "holder": bank.acc_holder_name or None,
                }
                for bank in partner.bank_ids
            ],
            "payment_terms": partner.property_supplier_payment_term_id.name or None,
            "blocked": not partner.active,
        }

    @api.model
    def _publish_vendors(self):
        ids = self.env.cr.precommit.data.pop("account_ap_sync.vendors", set())
        partners = self.env["res.partner"].sudo().with_context(active_test=False).browse(sorted(ids)).exists()
        if not partners:
            return
        mappings = (
            self.env["ap.sync.mapping"]
            .sudo()
            .search(
                [("mapping_type", "=", "vendor"), ("partner_id", "in", partners.commercial_partner_id.ids)]
            )
        )
        for mapping in mappings:
            platforms = mapping.platform_id or self.env["ap.platform"].sudo().search(
                [("company_id", "=", mapping.company_id.id), ("base_url", "!=", False)]
            )
            payload = dict(self._vendor_payload(mapping.partner_id), external_id=mapping.external_code)
            for platform in platforms.filtered("base_url"):
                self._enqueue_coalesced(
                    platform, "vendor", payload, mapping.external_code,
                    document_key=f"vendor:{mapping.external_code}", source=mapping.partner_id,
                )  # fmt: skip
        self.env.flush_all()

    # ------------------------------------------------------------------ purchase orders
    @api.model
    def _po_payload(self, order, platform):
        vendor = self.env["ap.sync.mapping"].sudo().search(
            [("mapping_type", "=", "vendor"), ("partner_id", "=", order.partner_id.commercial_partner_id.id),
             "|", ("platform_id", "=", platform.id), ("platform_id", "=", False)], limit=1,
        )  # fmt: skip
        lines = order.order_line.filtered(lambda line: not line.display_type).sorted(
            lambda line: (line.sequence, line.id)
        )
        return {
            "number": order.name,
            "vendor": vendor.external_code
            or order.partner_id.commercial_partner_id.vat
            or order.partner_id.name,
            "currency": order.currency_id.name,
            "state": order.state,
            "lines": [
                {
                    "ref": f"{order.name}/{index}",
                    "product_code": line.product_id.default_code or None,
                    "description": line.name,
                    "qty_ordered": str(line.product_qty),
                    "qty_received": str(line.qty_received),
                    "qty_billed": str(line.qty_invoiced),
                    "unit_price": _money(line.price_unit),
                    "tax": ", ".join(tax_key("S", tax.amount) for tax in line.taxes_id) or None,
                }
                for index, line in enumerate(lines, start=1)
            ],
        }

    @api.model
    def _publish_purchase_orders(self):
        ids = self.env.cr.precommit.data.pop("account_ap_sync.purchase_orders", set())
        orders = self.env["purchase.order"].sudo().browse(sorted(ids)).exists()
        if not orders:
            return
        platforms = (
            self.env["ap.platform"]
            .sudo()
            .search([("company_id", "in", orders.company_id.ids), ("base_url", "!=", False)])
        )
        for order in orders:
            key = f"purchase_order:{order.name}"
            for platform in platforms.filtered(lambda p, o=order: p.company_id == o.company_id):
                published = self.sudo().search_count(
                    [("platform_id", "=", platform.id), ("document_key", "=", key)]
                )
                if order.state not in ("purchase", "done") and not (order.state == "cancel" and published):
                    continue
                self._enqueue_coalesced(
                    platform, "purchase_order", self._po_payload(order, platform), order.name,
                    document_key=key, source=order,
                )  # fmt: skip
        self.env.flush_all()


class ResPartnerPublish(models.Model):
    _inherit = "res.partner"

    def write(self, vals):
        result = super().write(vals)
        if VENDOR_FIELDS & set(vals):
            self._ap_sync_vendor_changed()
        return result

    def _ap_sync_vendor_changed(self):
        Outbox = self.env["ap.sync.outbox"]
        _collect(
            self.env,
            "account_ap_sync.vendors",
            self.commercial_partner_id._origin.ids,
            Outbox._publish_vendors,
        )


class ResPartnerBankPublish(models.Model):
    _inherit = "res.partner.bank"

    @api.model_create_multi
    def create(self, vals_list):
        banks = super().create(vals_list)
        banks.partner_id._ap_sync_vendor_changed()
        return banks

    def write(self, vals):
        partners = self.partner_id
        result = super().write(vals)
        (partners | self.partner_id)._ap_sync_vendor_changed()
        return result

    def unlink(self):
        partners = self.partner_id
        result = super().unlink()
        partners._ap_sync_vendor_changed()
        return result


class ApSyncMappingPublish(models.Model):
    _inherit = "ap.sync.mapping"

    @api.model_create_multi
    def create(self, vals_list):
        mappings = super().create(vals_list)
        mappings.filtered(lambda m: m.mapping_type == "vendor").partner_id._ap_sync_vendor_changed()
        return mappings


class PurchaseOrderPublish(models.Model):
    _inherit = "purchase.order"

    def write(self, vals):
        result = super().write(vals)
        if PO_FIELDS & set(vals):
            self._ap_sync_po_changed()
        return result

    def _ap_sync_po_changed(self):
        Outbox = self.env["ap.sync.outbox"]
        orders = self.filtered(lambda o: o.state in ("purchase", "done", "cancel"))
        if orders:
            _collect(
                self.env,
                "account_ap_sync.purchase_orders",
                orders._origin.ids,
                Outbox._publish_purchase_orders,
            )


class PurchaseOrderLinePublish(models.Model):
    _inherit = "purchase.order.line"

    @api.model_create_multi
    def create(self, vals_list):
        lines = super().create(vals_list)
        lines.order_id._ap_sync_po_changed()
        return lines

    def write(self, vals):
        result = super().write(vals)
        if PO_LINE_FIELDS & set(vals):
            self.order_id._ap_sync_po_changed()
        return result

    def _compute_qty_received(self):
        res = super()._compute_qty_received()
        self.order_id._ap_sync_po_changed()
        return res

    def _compute_qty_invoiced(self):
        res = super()._compute_qty_invoiced()
        self.order_id._ap_sync_po_changed()
        return res
