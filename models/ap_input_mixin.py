import math

from odoo import _, api, models
from odoo.exceptions import ValidationError

from ..utils import input_guard

MAX_CHAR_LENGTH = 4096  # a Char field (names, codes, URLs, keys): longer is not a value but an accident
MAX_TEXT_LENGTH = 1_000_000  # a Text or Html field
INT_RANGE = (-(2**31), 2**31 - 1)  # PostgreSQL integer
STRING_TYPES = {"char", "text", "html", "selection"}
SKIPPED_TYPES = {"one2many", "many2many", "binary", "properties", "properties_definition"}


class ApSyncInputMixin(models.AbstractModel):
    """Values written to these models (form, import, XML-RPC, JSON-RPC, code) are checked before the
    database sees them: a NUL or lone surrogate, an absurd length or a value of the wrong type is a
    ``ValidationError`` naming the field, never a psycopg2 ``ValueError`` (an "internal error")."""

    _name = "ap.sync.input.mixin"
    _description = "AP Sync: input rules for written values"

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_input_vals(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._check_input_vals(vals)
        return super().write(vals)

    @api.model
    def _check_input_vals(self, vals):
        """Raise ValidationError for the first value of ``vals`` that cannot be stored as it is."""
        if not isinstance(vals, dict):
            raise ValidationError(_("Values must be given as a mapping of field names to values."))
        for name, value in vals.items():
            field = self._fields.get(name) if isinstance(name, str) else None
            if field is None or field.type in SKIPPED_TYPES or value is False or value is None:
                continue
            problem = self._get_input_problem(field, value)
            if problem:
                raise ValidationError(
                    _("%(field)s: %(problem)s", field=field._description_string(self.env), problem=problem)
                )

    @api.model
    def _get_input_problem(self, field, value):
        """What is wrong with ``value`` for ``field`` (a readable phrase), or None. Overridable."""
        if field.type in STRING_TYPES:
            if not isinstance(value, str):
                if isinstance(value, dict | list | tuple | set | bytes):
                    return _("a text is expected, not a %s.", type(value).__name__)
                return None  # a number becomes its text, as Odoo does
            problem = input_guard.describe(value)
            if problem:
                return _("the value %s.", problem)
            limit = getattr(field, "size", None) or (
                MAX_CHAR_LENGTH if field.type in ("char", "selection") else MAX_TEXT_LENGTH
            )
            if len(value) > limit:
                return _(
                    "%(length)s characters is too long (at most %(limit)s).", length=len(value), limit=limit
                )
            if field.type != "selection":
                return None  # a clean text of a fitting length: nothing left that converting could refuse
        elif field.type == "json":
            found = input_guard.find_problem(value)
            if found:
                return f"{found[1] or '/'}: {found[2]}"
            return None
        elif field.type == "many2one" and not isinstance(value, int | models.BaseModel):
            return _(
                "a record id (a whole number) is expected, not %s.", input_guard.clean_text(repr(value))[:80]
            )
        elif field.type == "integer" and isinstance(value, int) and not isinstance(value, bool):
            if not INT_RANGE[0] <= value <= INT_RANGE[1]:
                return _("%s is out of range for a whole number.", value)
            return None
        elif field.type in ("float", "monetary") and isinstance(value, float):
            # A float as such (every amount of a webhook): finite is all that is asked; converting it
            # would only round it (a lookup of its precision per value). An int is converted below: a
            # huge one is refused there, not overflowing here.
            return None if math.isfinite(value) else _("%s is not a number.", value)
        elif field.type == "many2one" and isinstance(value, int):
            if not INT_RANGE[0] <= value <= INT_RANGE[1]:
                return _("%s is out of range for a record id.", value)
            return None
        elif field.type == "boolean" and isinstance(value, bool):
            return None
        try:
            converted = field.convert_to_cache(value, self.browse())
        except (ValueError, TypeError, ArithmeticError, KeyError) as exc:
            return _("%(value)s is not a valid %(type)s value (%(error)s).",
                     value=input_guard.clean_text(repr(value))[:80], type=field.type,
                     error=input_guard.clean_text(str(exc))[:200])  # fmt: skip
        if field.type in ("float", "monetary") and not math.isfinite(converted or 0.0):
            return _("%s is not a number.", value)
        if field.type == "integer" and not INT_RANGE[0] <= (converted or 0) <= INT_RANGE[1]:
            return _("%s is out of range for a whole number.", value)
        return None
