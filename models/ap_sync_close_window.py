"""Close windows: the days on which priority rules weigh more (month-end close, payment runs)."""

import calendar
from datetime import date, timedelta

from odoo import _, api, fields, models, tools
from odoo.exceptions import ValidationError

WEEKDAYS = [
    ("0", "Monday"), ("1", "Tuesday"), ("2", "Wednesday"), ("3", "Thursday"), ("4", "Friday"),
    ("5", "Saturday"), ("6", "Sunday"),
]  # fmt: skip


class ApSyncCloseWindow(models.Model):
    _name = "ap.sync.close.window"
    _description = "AP Sync Close Window"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", index=True, help="Empty: the window applies to every company."
    )
    window_type = fields.Selection(
        [
            ("month_end", "Last working days of the month"),
            ("weekday", "Payment-run day (every week)"),
            ("dates", "Fixed dates"),
        ],
        required=True,
        default="month_end",
    )
    working_days = fields.Integer(
        default=3, help="Month end: how many working days (Monday to Friday) before the month's end."
    )
    weekday = fields.Selection(WEEKDAYS, help="Payment-run day: the day of the week of the run.")
    date_from = fields.Date()
    date_to = fields.Date()
    factor = fields.Float(
        default=3.0,
        required=True,
        help="While the window is open, the points of the priority rules marked 'Boost in close windows' "
        "are multiplied by this factor.",
    )

    @api.constrains("window_type", "working_days", "weekday", "date_from", "date_to", "factor")
    def _check_window(self):
        for window in self:
            if window.factor < 1:
                raise ValidationError(_("A close window's factor is at least 1."))
            if window.window_type == "month_end" and not 1 <= window.working_days <= 15:
                raise ValidationError(_("Month end: between 1 and 15 working days."))
            if window.window_type == "weekday" and not window.weekday:
                raise ValidationError(_("Choose the day of the payment run."))
            if window.window_type == "dates" and not (
                window.date_from and window.date_to and window.date_from <= window.date_to
            ):
                raise ValidationError(_("Fixed dates: give a first and a last day, in that order."))

    @staticmethod
    def _last_working_days(day, count):
        """The ``count`` last Monday-to-Friday days of ``day``'s month."""
        last = date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
        days = []
        while len(days) < count:
            if last.weekday() < 5:
                days.append(last)
            last -= timedelta(days=1)
        return days

    def _is_open_on(self, day):
        self.ensure_one()
        if self.window_type == "month_end":
            return day in self._last_working_days(day, self.working_days)
        if self.window_type == "weekday":
            return str(day.weekday()) == self.weekday
        return bool(self.date_from and self.date_to and self.date_from <= day <= self.date_to)

    @api.model
    def _get_factor(self, company, day=None, cache=None):
        """The boost of ``company`` on ``day`` (today): the largest factor of the windows open, else 1."""
        day = day or fields.Date.context_today(self)
        cache = {} if cache is None else cache
        key = ("close_factor", company.id, day)
        if key not in cache:
            cache[key] = self._get_factor_on(company.id, day, self.env.context.get("active_test", True))
        return cache[key]

    @api.model
    @tools.ormcache("company_id", "day", "active_test")
    def _get_factor_on(self, company_id, day, active_test=True):
        """The factor of a company on a day, kept by the process until a window is created, changed or
        deleted (every webhook computes a priority: no search or read of the windows for each)."""
        domain = [("company_id", "in", (False, company_id))]
        windows = self.sudo().with_context(active_test=active_test).search(domain)
        return max([w.factor for w in windows if w._is_open_on(day)], default=1.0)

    @api.model_create_multi
    def create(self, vals_list):
        windows = super().create(vals_list)
        self.env.registry.clear_cache()  # _get_factor_on
        self.env["ap.sync.priority.rule"]._refresh_priorities()
        return windows

    def write(self, vals):
        result = super().write(vals)
        self.env.registry.clear_cache()  # _get_factor_on
        self.env["ap.sync.priority.rule"]._refresh_priorities()
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()  # _get_factor_on
        self.env["ap.sync.priority.rule"]._refresh_priorities()
        return result
