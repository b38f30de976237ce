import base64
import binascii
import csv
import io

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..models.ap_sync_mapping import MAPPING_TYPES, TARGET_FIELDS
from ..utils import input_guard

REQUIRED_COLUMNS = ("mapping_type", "external_code", "target")
OPTIONAL_COLUMNS = ("platform", "note")
MAX_ROWS = 10000
MAX_ERRORS_SHOWN = 50
MAX_CELL = 1000


class ApSyncMappingImport(models.TransientModel):
    """Import mappings from a CSV file, checked line by line: either every line is good and they are all
    imported (created, or updated when the code is already mapped), or nothing is and the person gets the
    list of bad lines ("line 4: ...")."""

    _name = "ap.sync.mapping.import"
    _description = "AP Sync: import mappings from CSV"

    file = fields.Binary(string="CSV File", required=True)
    filename = fields.Char()
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    platform_id = fields.Many2one(
        "ap.platform",
        domain="[('company_id', '=', company_id)]",
        help="For lines without a platform column: empty means every platform of the company.",
    )

    def action_import(self):
        self.ensure_one()
        self.env["ap.sync.mapping"].check_access("create")
        rows = self._read_rows(self._decode_file())
        prepared, errors = [], []
        for line, row in rows:
            try:
                prepared.append((line, self._prepare_row(row)))
            except UserError as exc:
                errors.append(_("line %(line)s: %(error)s", line=line, error=exc.args[0]))
        if not errors:
            errors = self._write_rows(prepared)
        if errors:
            shown = errors[:MAX_ERRORS_SHOWN]
            if len(errors) > len(shown):
                shown.append(_("... and %s more lines with errors.", len(errors) - len(shown)))
            raise UserError(
                _("Nothing was imported: %(count)s lines need fixing.\n%(lines)s",
                  count=len(errors), lines="\n".join(shown))
            )  # fmt: skip
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": _("Mappings imported"),
                "message": _("%s lines imported.", len(prepared)),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    # ------------------------------------------------------------------ reading
    def _decode_file(self):
        try:
            raw = base64.b64decode(self.file or b"", validate=False)
        except (binascii.Error, ValueError) as exc:
            raise UserError(_("The file could not be read.")) from exc
        if not raw.strip():
            raise UserError(_("The file is empty."))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise UserError(
                _('line %s: the file is not UTF-8. Save it as "CSV UTF-8" and import it again.', line)
            ) from exc
        return text

    def _read_rows(self, text):
        """``[(line number, {column: value})]``; the header must name the required columns."""
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text, newline=""), dialect)
        try:
            header = [(cell or "").strip().lower() for cell in next(reader, [])]
        except csv.Error as exc:
            raise UserError(_("line 1: %s", exc)) from exc
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise UserError(
                _("The file has no column %(missing)s. The first line must name the columns: %(expected)s.",
                  missing=", ".join(missing), expected=", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS))
            )  # fmt: skip
        rows = []
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise UserError(_("line %(line)s: %(error)s", line=reader.line_num, error=exc)) from exc
            if not any((cell or "").strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise UserError(_("The file has more than %s lines: split it.", MAX_ROWS))
            row = {"__cells": len(cells), "__header": len(header)}
            row.update({column: (cells[i] if i < len(cells) else "") for i, column in enumerate(header)})
            rows.append((reader.line_num, row))
        if not rows:
            raise UserError(_("The file has a header but no lines to import."))
        return rows

    # ------------------------------------------------------------------ checking
    def _prepare_row(self, row):
        """The values of one line, or a UserError saying what is wrong with it (without the line number)."""
        if row["__cells"] > row["__header"]:
            raise UserError(_("%(cells)s cells where the header has %(columns)s columns.",
                              cells=row["__cells"], columns=row["__header"]))  # fmt: skip
        for column, value in row.items():
            if isinstance(value, str):
                problem = input_guard.describe(value)
                if problem:
                    raise UserError(_("column %(column)s %(problem)s.", column=column, problem=problem))
                if len(value) > MAX_CELL:
                    raise UserError(_("column %(column)s is longer than %(max)s characters.", column=column,
                                      max=MAX_CELL))  # fmt: skip
        kind = row["mapping_type"].strip().lower()
        if kind not in TARGET_FIELDS:
            raise UserError(
                _("unknown mapping type %(kind)r (one of: %(kinds)s).", kind=row["mapping_type"].strip(),
                  kinds=", ".join(code for code, _label in MAPPING_TYPES))
            )  # fmt: skip
        code = row["external_code"].strip()
        if not code:
            raise UserError(_("the external code is empty."))
        platform = self._find_platform(row.get("platform", "").strip())
        target = self._find_target(kind, row["target"].strip())
        values = {
            "mapping_type": kind,
            "external_code": code,
            "company_id": self.company_id.id,
            "platform_id": platform.id or False,
            TARGET_FIELDS[kind]: target.id,
        }
        if row.get("note", "").strip():
            values["note"] = row["note"].strip()
        return values

    def _find_platform(self, code):
        if not code:
            return self.platform_id
        platform = self.env["ap.platform"].search(
            [("code", "=", code), ("company_id", "=", self.company_id.id)], limit=1
        )
        if not platform:
            raise UserError(_("no platform with code %(code)r in %(company)s.", code=code,
                              company=self.company_id.name))  # fmt: skip
        return platform

    @api.model
    def _get_target_domains(self, kind, value, company):
        """Where to look for the Odoo record named by ``target`` (overridable), most exact first."""
        in_company = [("company_id", "in", (company.id, False))]
        return {
            "vendor": [[("ref", "=", value)], [("vat", "=", value)], [("name", "=", value)]],
            "tax": [
                [("name", "=", value), ("type_tax_use", "=", "purchase"), ("company_id", "=", company.id)]
            ],
            "account": [[("code", "=", value), ("company_ids", "in", company.id)]],
            "analytic": [[("code", "=", value), *in_company], [("name", "=", value), *in_company]],
            "company": [[("name", "=", value)]],
            "uom": [[("name", "=", value)]],
        }[kind]

    def _find_target(self, kind, value):
        """The record named by an XML id (module.name), a database id, or a code/name (see the domains)."""
        model = self.env["ap.sync.mapping"]._fields[TARGET_FIELDS[kind]].comodel_name
        label = dict(MAPPING_TYPES)[kind].lower()
        if not value:
            raise UserError(_("the target (the Odoo %s) is empty.", label))
        Target = self.env[model]
        if "." in value and " " not in value and kind not in ("tax", "account", "analytic", "uom"):
            record = self.env.ref(value, raise_if_not_found=False)
            if record is not None and record._name == model:
                return record
        if value.isdigit() and len(value) < 10:
            record = Target.browse(int(value)).exists()
            if record:
                return record
        for domain in self._get_target_domains(kind, value, self.company_id):
            records = Target.search(domain, limit=2)
            if len(records) == 1:
                return records
            if len(records) > 1:
                raise UserError(_("%(value)r names several %(label)s records: use its id.", value=value,
                                  label=label))  # fmt: skip
        raise UserError(_("no %(label)s %(value)r found.", label=label, value=value))

    # ------------------------------------------------------------------ writing
    def _write_rows(self, prepared):
        """Create or update every line, each in a savepoint; returns the errors ("line N: ...")."""
        Mapping = self.env["ap.sync.mapping"]
        errors = []
        for line, values in prepared:
            domain = [(key, "=", values[key]) for key in ("company_id", "platform_id", "mapping_type")]
            normalized = dict(values)
            Mapping._normalize_vals(normalized)
            try:
                with self.env.cr.savepoint():
                    existing = Mapping.with_context(active_test=False).search(
                        [*domain, ("external_code", "=", normalized["external_code"])], limit=1
                    )
                    if existing:
                        existing.write({**values, "active": True})
                    else:
                        Mapping.create(values)
                    self.env.flush_all()
            except (UserError, ValidationError) as exc:
                errors.append(_("line %(line)s: %(error)s", line=line, error=exc.args[0]))
        return errors
