from odoo import _, api, fields, models
from odoo.tools import SQL, float_compare

from .ap_invoice_staging import to_decimal
from .ap_invoice_staging_engine import batch_lookup
from .ap_invoice_staging_steps import LINE_MATCH, UOM_CODES
from .ap_sync_mapping import tax_key


class ApInvoiceStagingLine(models.Model):
    """A line of a staged invoice, as received."""

    _name = "ap.invoice.staging.line"
    _inherit = ["ap.sync.input.mixin"]
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
    # As received, not rounded to the currency: a Float shown as an amount (views), not a Monetary,
    # whose conversion builds a new record per line and value to find the currency (at every webhook).
    net_amount = fields.Float(help="The line's net amount as the platform sent it.")
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

    @api.model
    def _intake_insert(self, staging, vals_list):
        """Insert ``vals_list`` (``_prepare_from_line`` values) as the lines of ``staging``, a record the
        intake has just created, in one statement; returns the lines.

        The rows ``create`` would write: the mixin's input rules, the defaults of the fields not given,
        each field's own conversion (the floats rounded to their precision), the log-access columns and
        the company of the staging record (the stored related field). Without ``create``'s work per
        line, which a line as received does not need: no stored field computed from a line, no
        constraint, no tracking (about 2 ms of a webhook of five lines). Later versions of the document
        replace the lines through ``write`` (``_intake_new_version``).
        """
        if not vals_list:
            return self.browse()
        stored = {
            name
            for name, field in self._fields.items()
            if field.store and field.column_type and name not in models.MAGIC_COLUMNS
        }
        given = {name for vals in vals_list for name in vals} | {"staging_id", "company_id"}
        if not given <= stored:  # a value that is not a column of the row (an extension's): create does it
            return self.create(
                [dict(vals, staging_id=staging.id, company_id=staging.company_id.id) for vals in vals_list]
            )
        for vals in vals_list:
            self._check_input_vals(vals)
        # The same defaults for every line (the fields' own, the context's, ir.default's), asked once.
        defaults = self.default_get(sorted(stored - given))
        row_defaults = dict(defaults, staging_id=staging.id, company_id=staging.company_id.id)
        columns = sorted(given | set(defaults))
        record = self.browse()
        now, uid = self.env.cr.now(), self.env.uid
        rows = []
        for vals in vals_list:
            values = {**row_defaults, **vals}
            row = [
                self._fields[name].convert_to_column_insert(values[name], record, values)
                if name in values
                else None
                for name in columns
            ]
            rows.append(SQL("(%s)", SQL(", ").join([*row, uid, now, uid, now])))
        self.env.cr.execute(SQL(
            "INSERT INTO %s (%s) VALUES %s RETURNING id",
            SQL.identifier(self._table),
            SQL(", ").join(SQL.identifier(name) for name in [*columns, *models.LOG_ACCESS_COLUMNS]),
            SQL(", ").join(rows),
        ))  # fmt: skip
        lines = self.browse(row[0] for row in self.env.cr.fetchall())
        # The staging record's cached (empty) lines are read again when asked for.
        staging.invalidate_recordset(["line_ids"])
        return lines


class ApInvoiceStagingLineMatching(models.Model):
    """Mapping and PO matching of a staged line (kept beside the line, as received)."""

    _inherit = "ap.invoice.staging.line"

    product_id = fields.Many2one("product.product", readonly=True)
    account_id = fields.Many2one("account.account", readonly=True)
    tax_ids = fields.Many2many("account.tax", string="Taxes", readonly=True)
    analytic_distribution = fields.Json(readonly=True)
    uom_id = fields.Many2one("uom.uom", string="Unit", readonly=True)
    purchase_line_id = fields.Many2one("purchase.order.line", string="PO Line", readonly=True)
    match_status = fields.Selection(
        LINE_MATCH,
        readonly=True,
    )
    po_price_unit = fields.Float(string="PO Price", digits="Product Price", readonly=True)
    ordered_qty = fields.Float(string="Ordered", digits="Product Unit of Measure", readonly=True)
    received_qty = fields.Float(string="Received", digits="Product Unit of Measure", readonly=True)
    billed_qty = fields.Float(string="Already Billed", digits="Product Unit of Measure", readonly=True)
    match_note = fields.Char(readonly=True)

    def _map(self, staging):
        """Product, account, taxes, analytics, unit. Returns (type, message) or None."""
        result = self._map_values(staging)
        if isinstance(result, dict):
            self.write(result)
            return None
        return result

    def _map_values(self, staging):
        """What ``_map`` finds, not written: the line's values (a dict), or the problem ``(type, message)``."""
        self.ensure_one()
        env, company, platform = self.env, staging.company_id, staging.platform_id
        Mapping = env["ap.sync.mapping"]
        # Lookups repeat across the lines and invoices of one processing batch: remember them for the
        # batch (``_process`` keeps them for its run only; a line mapped on its own looks them up again).
        product = env["product.product"]
        if self.product_code:
            product = batch_lookup(
                env,
                ("product", company.id, self.product_code),
                lambda: env["product.product"].search(
                    [("default_code", "=", self.product_code), ("company_id", "in", (False, company.id))],
                    limit=1,
                ),
            )
            if not product and staging.partner_id:
                vendor = staging.partner_id.commercial_partner_id
                info = batch_lookup(
                    env,
                    ("supplierinfo", vendor.id, self.product_code),
                    lambda: env["product.supplierinfo"].search(
                        [("product_code", "=", self.product_code), ("partner_id", "=", vendor.id)], limit=1
                    ),
                )
                product = info.product_id or info.product_tmpl_id.product_variant_id
        account = env["account.account"]
        if self.account_code:
            code = self.account_code
            account = batch_lookup(
                env,
                ("account", company.id, platform.id, code),
                lambda: Mapping._lookup("account", code, company=company, platform=platform)
                or env["account.account"]
                .with_company(company)
                .search([("code", "=", code), ("company_ids", "in", company.id), ("deprecated", "=", False)], limit=1),
            )  # fmt: skip
            if not account:
                return "account_mapping", _(
                    "Line %(n)s: no account with code %(code)s in %(company)s and no mapping.",
                    n=self.sequence,
                    code=self.account_code,
                    company=company.name,
                )
        if not account and product:
            account = batch_lookup(
                env,
                ("expense", company.id, product.id),
                lambda: product.product_tmpl_id.with_company(company)._get_product_accounts()["expense"],
            )
        if not account:
            account = platform.default_expense_account_id.filtered(lambda a: company in a.company_ids)
        if not account:
            account = staging._get_journal().default_account_id
        if not account:
            return "account_mapping", _(
                "Line %s: no account (no code, product, platform default or journal default).", self.sequence
            )
        taxes = env["account.tax"]
        if self.tax_category:
            key = tax_key(self.tax_category, self.tax_rate_text())
            taxes = batch_lookup(
                env,
                ("tax_mapping", company.id, platform.id, key),
                lambda: Mapping._lookup("tax", key, company=company, platform=platform),
            )
            if not taxes:
                candidates = batch_lookup(
                env,
                    ("purchase_taxes", company.id),
                    lambda: env["account.tax"].search([
                        ("type_tax_use", "=", "purchase"), ("amount_type", "=", "percent"),
                        ("company_id", "=", company.id), ("price_include", "=", False),
                    ]),
                ).filtered(lambda t: float_compare(t.amount, self.tax_rate, precision_digits=4) == 0)  # fmt: skip
                preferred = candidates & product.supplier_taxes_id
                if len(preferred) == 1 or len(candidates) == 1:
                    taxes = preferred or candidates
                elif candidates:
                    return "tax_mapping", _(
                        "Line %(n)s: %(count)s purchase taxes of %(rate)s%% exist (%(names)s): add a tax mapping %(key)s "
                        "to say which one.",
                        n=self.sequence, count=len(candidates), rate=self.tax_rate_text(),
                        names=", ".join(candidates.mapped("name")), key=key,
                    )  # fmt: skip
            if not taxes:
                return "tax_mapping", _(
                    "Line %(n)s: no purchase tax of %(rate)s%% (category %(cat)s) in %(company)s; "
                    "add a tax mapping %(key)s.",
                    n=self.sequence,
                    rate=self.tax_rate_text(),
                    cat=self.tax_category,
                    company=company.name,
                    key=key,
                )
        distribution = {}
        for code, percent in (self.analytic or {}).items():
            analytic = batch_lookup(
                env,
                ("analytic", company.id, platform.id, code),
                lambda code=code: Mapping._lookup("analytic", code, company=company, platform=platform)
                or env["account.analytic.account"].search(
                    [("code", "=", code), ("company_id", "in", (False, company.id))], limit=1
                ),
            )
            if not analytic:
                return "account_mapping", _(
                    "Line %(n)s: no analytic account %(code)s.", n=self.sequence, code=code
                )
            distribution[str(analytic.id)] = float(percent)
        uom = env["uom.uom"]
        if self.uom_code:
            uom_code = self.uom_code
            uom = batch_lookup(
                env,
                ("uom", company.id, platform.id, uom_code),
                lambda: Mapping._lookup("uom", uom_code, company=company, platform=platform)
                or (env.ref(UOM_CODES[uom_code], raise_if_not_found=False) if uom_code in UOM_CODES else None)
                or env["uom.uom"],
            )
        if product and uom and uom.category_id != product.uom_id.category_id:
            uom = product.uom_po_id
        return {
            "product_id": product.id,
            "account_id": account.id,
            "tax_ids": [(6, 0, taxes.ids)],
            "analytic_distribution": distribution or False,
            "uom_id": (uom or product.uom_po_id).id,
        }

    def tax_rate_text(self):
        tax = next((item.get("tax") for item in self._document_lines() if item), None)
        return (tax or {}).get("rate") or str(self.tax_rate)

    def _document_lines(self):
        # The document's lines are read once per staging record in a processing batch (a Json value is
        # copied on every read).
        lines = batch_lookup(
            self.env,
            ("document_lines", self.staging_id.id),
            lambda: (self.staging_id.document_json or {}).get("lines") or [],
        )
        index = self.sequence - 1
        return [lines[index]] if 0 <= index < len(lines) else []

    def _find_po_line(self, orders):
        if self.po_line_ref:
            order_name, _sep, position = self.po_line_ref.rpartition("/")
            order = orders.filtered(lambda o: o.name == order_name) if order_name else orders
            lines = order.order_line.filtered(lambda pol: not pol.display_type).sorted(
                lambda pol: (pol.sequence, pol.id)
            )
            if position.isdigit() and 1 <= int(position) <= len(lines):
                return lines[int(position) - 1]
            by_id = lines.filtered(lambda pol: str(pol.id) == position)
            if by_id:
                return by_id
        lines = orders.order_line.filtered(lambda pol: not pol.display_type)
        if self.product_id:
            by_product = lines.filtered(lambda pol: pol.product_id == self.product_id)
            if len(by_product) == 1:
                return by_product
        wanted = " ".join((self.description or "").casefold().split())
        by_text = (
            lines.filtered(lambda pol: " ".join((pol.name or "").casefold().split()) == wanted)
            if wanted
            else lines[:0]
        )
        return by_text[:1]

    def _match_po_line(self, orders, tolerances, check_quantities=True):
        """2-way (price, ordered) and 3-way (received) checks; the numbers stay on the line."""
        self.ensure_one()
        price_pct, price_abs, qty_pct, qty_abs = tolerances
        po_line = self._find_po_line(orders)
        if not po_line:
            self.write({"match_status": "no_po_line", "purchase_line_id": False,
                        "match_note": _("No line of %s matches.", ", ".join(orders.mapped("name")))})  # fmt: skip
            return "po_not_found", _("Line %(n)s (%(d)s): no matching line on %(po)s.",
                                     n=self.sequence, d=self.description or self.product_code or "-",
                                     po=", ".join(orders.mapped("name")))  # fmt: skip
        values = {
            "purchase_line_id": po_line.id,
            "po_price_unit": po_line.price_unit,
            "ordered_qty": po_line.product_qty,
            "received_qty": po_line.qty_received,
            "billed_qty": po_line.qty_invoiced,
            "match_status": "matched",
            "match_note": False,
        }
        if not self.product_id and po_line.product_id:
            values["product_id"] = po_line.product_id.id
        problem = None
        allowed_price = po_line.price_unit + max(po_line.price_unit * price_pct / 100, price_abs)
        if float_compare(self.unit_price, allowed_price, precision_digits=6) > 0:
            values.update(
                match_status="price_variance",
                match_note=_("price %(inv)s vs PO %(po)s", inv=self.unit_price, po=po_line.price_unit),
            )
            problem = (
                "price_variance",
                _(
                    "Line %(n)s: invoice price %(inv)s is above the PO price %(po)s of %(pol)s "
                    "(tolerance %(pct)s%% / %(abs)s).",
                    n=self.sequence,
                    inv=self.unit_price,
                    po=po_line.price_unit,
                    pol=po_line.order_id.name,
                    pct=price_pct,
                    abs=price_abs,
                ),
            )
        if check_quantities and not problem:
            billable_ordered = po_line.product_qty - po_line.qty_invoiced
            allowance = max(billable_ordered * qty_pct / 100, qty_abs)
            receive_based = (po_line.product_id.purchase_method or "purchase") == "receive"
            billable_received = po_line.qty_received - po_line.qty_invoiced
            if float_compare(self.quantity, billable_ordered + allowance, precision_digits=4) > 0:
                values.update(
                    match_status="quantity_variance",
                    match_note=_("billed %(q)s, billable %(b)s", q=self.quantity, b=billable_ordered),
                )
                problem = (
                    "quantity_variance",
                    _(
                        "Line %(n)s: billed quantity %(q)s exceeds what is left to bill on %(po)s: ordered %(o)s, "
                        "already billed %(i)s.",
                        n=self.sequence,
                        q=self.quantity,
                        po=po_line.order_id.name,
                        o=po_line.product_qty,
                        i=po_line.qty_invoiced,
                    ),
                )
            elif (
                receive_based
                and float_compare(self.quantity, billable_received + allowance, precision_digits=4) > 0
            ):
                values.update(
                    match_status="receipt_missing",
                    match_note=_("billed %(q)s, received %(r)s", q=self.quantity, r=po_line.qty_received),
                )
                problem = (
                    "receipt_missing",
                    _(
                        "Line %(n)s: billed quantity %(q)s is above the received quantity %(r)s (already billed %(i)s) "
                        "of %(po)s.",
                        n=self.sequence,
                        q=self.quantity,
                        r=po_line.qty_received,
                        i=po_line.qty_invoiced,
                        po=po_line.order_id.name,
                    ),
                )
        self.write(values)
        return problem

    def _prepare_bill_line(self):
        self.ensure_one()
        values = {
            "name": self.description or self.product_id.display_name or self.product_code or "/",
            "quantity": self.quantity,
            "price_unit": self.unit_price,
            "account_id": self.account_id.id,
            "tax_ids": [(6, 0, self.tax_ids.ids)],
        }
        if self.product_id:
            values["product_id"] = self.product_id.id
        if self.uom_id:
            values["product_uom_id"] = self.uom_id.id
        if self.analytic_distribution:
            values["analytic_distribution"] = self.analytic_distribution
        if self.purchase_line_id:
            values["purchase_line_id"] = self.purchase_line_id.id
        return values
