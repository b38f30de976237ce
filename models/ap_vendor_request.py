from stdnum import iban as stdnum_iban

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..utils.access import MANAGER_GROUP, check_manager
from .ap_invoice_staging_steps import normalize_vat


class ApVendorRequest(models.Model):
    """A vendor the platform asks Odoo to onboard (or to update): a manager reviews it.

    Odoo is the system of record for vendors: nothing is created or changed until a manager
    approves; the outcome goes back to the platform (``PUT /vendors/{external_id}``)."""

    _name = "ap.vendor.request"
    _description = "AP Vendor Onboarding Request"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    platform_id = fields.Many2one(
        "ap.platform", required=True, readonly=True, index=True, ondelete="restrict"
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    event_id = fields.Many2one("ap.sync.event", readonly=True, ondelete="set null")
    kind = fields.Selection(
        [("onboarding", "Onboarding"), ("update", "Update")],
        required=True,
        readonly=True,
        default="onboarding",
    )
    external_id = fields.Char(string="Platform Vendor ID", required=True, readonly=True, index=True)
    name = fields.Char(required=True, readonly=True)
    vat = fields.Char(string="VAT", readonly=True)
    company_registry = fields.Char(readonly=True)
    email = fields.Char(readonly=True)
    phone = fields.Char(readonly=True)
    street = fields.Char(readonly=True)
    zip = fields.Char(readonly=True)
    city = fields.Char(readonly=True)
    country_id = fields.Many2one("res.country", readonly=True)
    bank_accounts = fields.Json(string="Bank Accounts (as sent)", readonly=True)
    bank_accounts_text = fields.Text(compute="_compute_bank_accounts_text", string="Bank Accounts")
    payment_terms = fields.Char(readonly=True)
    state = fields.Selection(
        [("to_review", "To Review"), ("approved", "Approved"), ("refused", "Refused")],
        required=True, default="to_review", readonly=True, tracking=True, index=True,
    )  # fmt: skip
    partner_id = fields.Many2one(
        "res.partner", string="Vendor", tracking=True, check_company=True,
        help="Existing vendor to link; empty: approving creates one.",
    )  # fmt: skip
    candidate_ids = fields.Many2many("res.partner", compute="_compute_candidates", string="Possible Matches")
    reason = fields.Text(readonly=True, tracking=True)
    reviewed_by = fields.Many2one("res.users", readonly=True)
    reviewed_on = fields.Datetime(readonly=True)

    @api.depends("bank_accounts")
    def _compute_bank_accounts_text(self):
        for request in self:
            request.bank_accounts_text = "\n".join(
                " / ".join(filter(None, (b.get("iban"), b.get("bic"), b.get("holder"))))
                for b in request.bank_accounts or []
            )

    @api.depends("vat", "name")
    def _compute_candidates(self):
        for request in self:
            domain = ["|", ("company_id", "=", False), ("company_id", "=", request.company_id.id)]
            found = self.env["res.partner"]
            if request.vat:
                self.env["res.partner"].flush_model(["vat"])
                self.env.cr.execute(
                    "SELECT id FROM res_partner WHERE regexp_replace(upper(vat), '[^A-Z0-9]', '', 'g') = %s",
                    [normalize_vat(request.vat)],
                )
                found = (
                    self.env["res.partner"]
                    .browse([row[0] for row in self.env.cr.fetchall()])
                    .filtered_domain(domain)
                )
            if not found and request.name:
                found = self.env["res.partner"].search(domain + [("name", "=ilike", request.name)], limit=5)
            request.candidate_ids = found.commercial_partner_id

    @api.model
    def _from_event(self, event, data):
        """A vendor event: open (or refresh) the review item of that platform vendor."""
        address = data.get("address") or {}
        country = self.env["res.country"].search([("code", "=", address.get("country"))], limit=1)
        values = {
            "platform_id": event.platform_id.id,
            "company_id": event.company_id.id,
            "event_id": event.id,
            "kind": "onboarding" if event.event_type == "vendor.onboarding_requested" else "update",
            "external_id": data["external_id"],
            "name": data["name"],
            "vat": data.get("vat") or False,
            "company_registry": data.get("company_registry") or False,
            "email": data.get("email") or False,
            "phone": data.get("phone") or False,
            "street": address.get("street") or False,
            "zip": address.get("zip") or False,
            "city": address.get("city") or False,
            "country_id": country.id or False,
            "bank_accounts": data.get("bank_accounts") or [],
            "payment_terms": data.get("payment_terms") or False,
        }
        request = self.search(
            [("platform_id", "=", event.platform_id.id), ("external_id", "=", data["external_id"]),
             ("state", "=", "to_review")], limit=1,
        )  # fmt: skip
        if request:
            request.write(values)
            request.message_post(body=_("Updated by the platform (message %s).", event.webhook_id))
        else:
            request = self.with_context(mail_create_nolog=True).create(values)
            managers = self.env.ref(MANAGER_GROUP).users.filtered(lambda u: not u.share)
            request.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_(
                    "Review vendor %(vendor)s from %(platform)s",
                    vendor=request.name,
                    platform=request.platform_id.name,
                ),
                user_id=(managers[:1] or self.env.ref("base.user_admin")).id,
            )
        event._mark("applied", _("Vendor review item %s.", request.display_name))
        return request

    def _check_manager(self):
        check_manager(self.env, _("Only an AP Sync manager may decide on vendor requests."))

    def _check_bank_accounts(self):
        """Every IBAN must be valid; an IBAN of another vendor is refused (fraud control)."""
        for bank in self.bank_accounts or []:
            iban = bank.get("iban") or ""
            if not stdnum_iban.is_valid(iban):
                raise UserError(_("%s is not a valid IBAN: correct it on the platform first.", iban))
            owner = (
                self.env["res.partner.bank"]
                .sudo()
                .search([("sanitized_acc_number", "=", stdnum_iban.compact(iban))], limit=1)
                .partner_id.commercial_partner_id
            )
            if owner and owner != self.partner_id.commercial_partner_id:
                raise UserError(
                    _("IBAN %(iban)s already belongs to %(owner)s.", iban=iban, owner=owner.display_name)
                )

    def action_approve(self):
        self._check_manager()
        # The review is the control: the vendor master data is written by the module on the manager's decision.
        for request in self.filtered(lambda r: r.state == "to_review").sudo():
            request._check_bank_accounts()
            partner = request.partner_id.commercial_partner_id
            values = {
                "name": request.name, "vat": request.vat, "company_registry": request.company_registry,
                "email": request.email, "phone": request.phone, "street": request.street, "zip": request.zip,
                "city": request.city, "country_id": request.country_id.id,
            }  # fmt: skip
            if not partner:
                partner = request.env["res.partner"].create(dict(values, is_company=True, supplier_rank=1))
            else:
                partner.write({key: value for key, value in values.items() if value})
            known = set(partner.bank_ids.mapped("sanitized_acc_number"))
            for bank in request.bank_accounts or []:
                if stdnum_iban.compact(bank["iban"]) not in known:
                    request.env["res.partner.bank"].create(
                        {
                            "acc_number": bank["iban"],
                            "partner_id": partner.id,
                            "acc_holder_name": bank.get("holder"),
                        }
                    )
            request.env["ap.sync.mapping"]._set_vendor(
                request.external_id, partner, request.company_id, request.platform_id
            )
            partner._ap_sync_vendor_changed()  # the approved master data goes back to the platform
            request.write({"state": "approved", "partner_id": partner.id, "reviewed_by": self.env.user.id,
                           "reviewed_on": fields.Datetime.now()})  # fmt: skip
            request.activity_ids.action_done()
        return True

    def action_refuse(self, reason):
        self._check_manager()
        if not (reason or "").strip():
            raise UserError(_("Write down why the vendor is refused: the platform receives the reason."))
        for request in self.filtered(lambda r: r.state == "to_review"):
            request.write({"state": "refused", "reason": reason.strip(), "reviewed_by": self.env.uid,
                           "reviewed_on": fields.Datetime.now()})  # fmt: skip
            self.env["ap.sync.outbox"]._enqueue_message(
                request.platform_id, "vendor_request",
                {"schema_version": "1.0", "external_id": request.external_id, "name": request.name,
                 "blocked": True, "status": "refused", "reason": reason.strip()},
                request.external_id, document_key=f"vendor:{request.external_id}", source=request,
            )  # fmt: skip
            request.activity_ids.action_done()
        return True


class ApVendorRequestRefuse(models.TransientModel):
    _name = "ap.vendor.request.refuse"
    _description = "Refuse a Vendor Request"

    request_ids = fields.Many2many("ap.vendor.request", required=True)
    reason = fields.Text(required=True)

    def action_confirm(self):
        self.request_ids.action_refuse(self.reason)
        return {"type": "ir.actions.act_window_close"}
