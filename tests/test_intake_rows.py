"""What the intake writes without ``create``'s work per line, and the precisions it remembers: the same
rows and values as the ORM's own path (models/ap_invoice_staging_line.py ``_intake_insert``,
models/decimal_precision.py)."""

import json
from unittest.mock import patch

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from ..models.decimal_precision import MEMO_KEY, remembered_precisions
from .common import ApSyncCase, make_invoice

# Compared between a line of the intake and the same line made by create.
IGNORED = {"id", "staging_id", "create_date", "write_date", "display_name"}


@tagged("post_install", "-at_install")
class TestIntakeRows(ApSyncCase):
    def stage(self, data, webhook_id=None):
        envelope = {"type": "invoice.approved", "timestamp": "2026-11-02T10:15:00Z", "data": data}
        raw = json.dumps(envelope).encode()
        status, _body, event = self.env["ap.sync.event"]._store(
            self.platform, webhook_id or f"rows-{data['id']}", envelope, raw
        )
        self.assertEqual(status, 202)
        return event.staging_id

    def lines_data(self):
        return [
            {"quantity": "2.5", "unit_price": "12.34567", "description": "Toner, black", "product_code": "TN-1",
             "po_line_ref": "P00012/1", "account_code": "600000", "analytic": {"CC-100": "60", "CC-200": "40"}},
            {"quantity": "1", "unit_price": "0.10", "uom": "HUR", "tax": {"category": "Z", "rate": "0"}},
            {"quantity": "3.3333", "unit_price": "7", "description": "Paper \u00e9\u00e8 \u4e2d"},
        ]  # fmt: skip

    def test_lines_are_the_rows_create_writes(self):
        data = make_invoice(doc_id="inv_rows_1", number="ROWS-1", lines=self.lines_data())
        staging = self.stage(data)
        # Read in the same transaction, without invalidating anything: the record's lines are there.
        lines = staging.line_ids
        self.assertEqual(len(lines), 3)
        self.assertEqual(staging.line_count, 3)
        self.assertEqual(lines.mapped("sequence"), [1, 2, 3])
        self.assertEqual(lines.mapped("description"), ["Toner, black", False, "Paper \u00e9\u00e8 \u4e2d"])
        self.assertEqual(lines.company_id, self.platform.company_id)
        self.assertEqual(lines.create_uid, self.env.user)
        # The same lines made by create, on another record: field for field the same values, rounded
        # to the same precisions (the unit price of 12.34567 to "Product Price"), as the database holds
        # them (read after the cache is dropped).
        Line = self.env["ap.invoice.staging.line"]
        other = self.stage(
            make_invoice(doc_id="inv_rows_2", number="ROWS-2", lines=[{"quantity": "1", "unit_price": "1"}])
        )
        created = Line.create([
            dict(Line._prepare_from_line(line, index), staging_id=other.id)
            for index, line in enumerate(data["lines"])
        ])  # fmt: skip
        self.env.invalidate_all()
        names = [name for name, field in Line._fields.items() if field.store and name not in IGNORED]
        self.maxDiff = None
        for inserted, made in zip(lines.read(names), created.read(names), strict=True):
            self.assertNotEqual(inserted.pop("id"), made.pop("id"))
            self.assertEqual(inserted, made)
        digits = self.env["decimal.precision"].precision_get("Product Price")
        self.assertEqual(lines[0].unit_price, round(12.34567, digits))
        self.assertEqual(lines[0].analytic, {"CC-100": "60", "CC-200": "40"})
        self.assertEqual((lines[1].uom_code, lines[1].tax_category, lines[1].tax_rate), ("HUR", "Z", 0.0))

    def test_defaults_of_fields_not_given_apply(self):
        """A default of a field the intake does not fill (here a user-defined one) is written, as create
        writes it."""
        self.env["ir.default"].set("ap.invoice.staging.line", "match_note", "Not matched yet")
        staging = self.stage(make_invoice(doc_id="inv_rows_default", lines=self.lines_data()[:2]))
        self.assertEqual(staging.line_ids.mapped("match_note"), ["Not matched yet"] * 2)

    def test_a_refused_line_value_is_a_validation_error(self):
        """The lines keep the models' input rules: a value they refuse is a ValidationError naming the
        field (the webhook answers it 422), not a database error."""
        Line = type(self.env["ap.invoice.staging.line"])
        prepare = Line._prepare_from_line

        def with_a_nul(model, line, index):
            return dict(prepare(model, line, index), product_code="TN\x001")

        with (
            patch.object(Line, "_prepare_from_line", with_a_nul),
            self.assertRaisesRegex(ValidationError, "NUL"),
        ):
            self.stage(make_invoice(doc_id="inv_rows_nul", lines=self.lines_data()))

    def test_an_extension_value_that_is_no_column_goes_through_create(self):
        """A module adding a value that is not a column of the line (a many2many) gets it written:
        those lines are made by create."""
        tax = self.env["account.tax"].create(
            {"name": "Rows 9%", "amount": 9, "type_tax_use": "purchase", "company_id": self.company_a.id}
        )
        Line = type(self.env["ap.invoice.staging.line"])
        prepare = Line._prepare_from_line

        def with_taxes(model, line, index):
            return dict(prepare(model, line, index), tax_ids=[(6, 0, tax.ids)])

        with patch.object(Line, "_prepare_from_line", with_taxes):
            staging = self.stage(make_invoice(doc_id="inv_rows_taxes", lines=self.lines_data()))
        self.assertEqual(len(staging.line_ids), 3)
        self.assertEqual(staging.line_ids.tax_ids, tax)
        self.assertEqual(staging.line_ids.company_id, self.platform.company_id)

    def test_a_new_version_replaces_the_lines(self):
        staging = self.stage(make_invoice(doc_id="inv_rows_v", lines=self.lines_data()), webhook_id="rows-v1")
        data = make_invoice(
            doc_id="inv_rows_v", lines=self.lines_data()[:1], updated_at="2099-01-01T00:00:00Z"
        )
        self.assertEqual(self.stage(data, webhook_id="rows-v2"), staging)
        self.assertEqual(staging.line_ids.mapped("description"), ["Toner, black"])


@tagged("post_install", "-at_install")
class TestRememberedPrecisions(ApSyncCase):
    def test_remembered_inside_the_block_only(self):
        Precision = self.env["decimal.precision"]
        price = self.env.ref("product.decimal_price")
        self.assertNotIn(MEMO_KEY, self.env.cr.cache)
        with remembered_precisions(self.env):
            digits = Precision.precision_get("Product Price")
            self.assertEqual(self.env.cr.cache[MEMO_KEY], {"Product Price": digits})
            with remembered_precisions(self.env):  # re-entrant: the outer block keeps what it read
                self.assertEqual(Precision.precision_get("Product Price"), digits)
            self.assertIn(MEMO_KEY, self.env.cr.cache)
            # Changed in the block: the new value from then on.
            price.digits = digits + 2
            self.assertEqual(Precision.precision_get("Product Price"), digits + 2)
            field = self.env["ap.invoice.staging.line"]._fields["unit_price"]
            self.assertEqual(field.get_digits(self.env), (16, digits + 2))
        self.assertNotIn(MEMO_KEY, self.env.cr.cache)
        price.digits = digits
        self.assertEqual(Precision.precision_get("Product Price"), digits)

    def test_a_failing_block_forgets_too(self):
        with self.assertRaisesRegex(ValueError, "refused"), remembered_precisions(self.env):
            self.env["decimal.precision"].precision_get("Product Unit of Measure")
            self.assertIn("Product Unit of Measure", self.env.cr.cache[MEMO_KEY])
            raise ValueError("refused")
        self.assertNotIn(MEMO_KEY, self.env.cr.cache)
