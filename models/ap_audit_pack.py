"""Audit pack: everything an auditor needs about one bill made from a platform document.

One dictionary (:meth:`_get_data`) feeds the JSON file and the printable QWeb report; for a period
and a company, the packs of every such bill come as one zip with an index CSV.
"""

import csv
import hashlib
import io
import json
import zipfile

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import html2plaintext

REPORT_XMLID = "account_ap_sync.action_report_ap_audit_pack"
INDEX_COLUMNS = [
    "bill", "bill_id", "vendor", "vendor_reference", "invoice_date", "currency", "amount_untaxed",
    "amount_total", "state", "platform", "document_id", "document_sha256", "payload_sha256", "payload_verified",
    "approvers", "approved_at", "posted_by", "posted_on", "overrides", "json_file", "report_file",
]  # fmt: skip


def _dt(value):
    return fields.Datetime.to_string(value) if value else None


class ApAuditPack(models.AbstractModel):
    _name = "ap.audit.pack"
    _description = "AP Sync Audit Pack"

    @api.model
    def _check_access(self, moves):
        if not self.env.user.has_group("account_ap_sync.group_ap_sync_user"):
            raise UserError(_("Only AP Sync users may export audit packs."))
        moves.check_access("read")

    @api.model
    def _get_data(self, move):
        """The audit pack of ``move`` as plain JSON-serialisable data."""
        move = move.sudo()
        staging = move.ap_staging_id
        platform = staging.platform_id
        raw = staging.payload_attachment_id.raw or b""
        approval = (staging.document_json or {}).get("approval") or {}
        steps = [name for name, _method, _state in staging._get_processing_steps()]
        reached = steps.index(staging.processing_step) if staging.processing_step in steps else -1
        billed = bool(staging.move_id)
        signatures = {
            "webhook": _("Standard Webhooks signature verified before storing"),
            "pull": _("pulled over the authenticated API"),
        }
        return {
            "generated_at": _dt(fields.Datetime.now()),
            "generated_by": self.env.user.name,
            "bill": {
                "id": move.id,
                "name": move.name,
                "move_type": move.move_type,
                "state": move.state,
                "vendor": move.partner_id.display_name,
                "vendor_reference": move.ref,
                "vendor_bank_account": move.partner_bank_id.acc_number or None,
                "invoice_date": str(move.invoice_date or "") or None,
                "currency": move.currency_id.name,
                "amount_untaxed": move.amount_untaxed,
                "amount_tax": move.amount_tax,
                "amount_total": move.amount_total,
                "company": move.company_id.name,
                "posted_by": move.ap_posted_by.name or None,
                "posted_on": _dt(move.ap_posted_on),
            },  # fmt: skip
            "document": {
                "reference": staging.name,
                "platform": platform.name,
                "platform_code": platform.code,
                "environment": platform.environment,
                "document_id": staging.document_id,
                "document_type": staging.document_type,
                "number": staging.number,
                "currency": staging.currency_code,
                "amount_net": staging.amount_net,
                "amount_tax": staging.amount_tax,
                "amount_gross": staging.amount_gross,
                "document_sha256": staging.document_sha256,
                "state": staging.state,
                "vendor": staging.partner_id.display_name or None,
                "vendor_match_rule": staging.vendor_match_rule or None,
                "purchase_order": staging.purchase_order_id.name or None,
            },  # fmt: skip
            "payload": {
                "as_received": raw.decode("utf-8", errors="replace"),
                "sha256": hashlib.sha256(raw).hexdigest() if raw else None,
                "sha256_recorded": staging.payload_sha256,
                "verified": bool(raw) and hashlib.sha256(raw).hexdigest() == staging.payload_sha256,
            },
            "signed_requests": [
                {
                    "webhook_id": event.webhook_id,
                    "source": event.source,
                    "event_type": event.event_type,
                    "envelope_timestamp": event.event_timestamp,
                    "received_at": _dt(event.create_date),
                    "payload_sha256": event.payload_sha256,
                    "payload_size": event.payload_size,
                    "result": event.state,
                    "note": event.note or None,
                    "signature": signatures.get(event.source),
                }  # fmt: skip
                for event in staging.event_ids.sorted("id")
            ],
            "approval": {
                "status": staging.approval_status,
                "approved_at": staging.approved_at,
                "approvers": [
                    {
                        key: approver.get(key)
                        for key in ("name", "email", "role", "approved_at")
                        if approver.get(key)
                    }
                    for approver in approval.get("approvers") or []
                    if isinstance(approver, dict)
                ],
            },
            "processing": {
                "steps": [
                    {
                        "step": name,
                        "result": "passed"
                        if billed or index < reached
                        else (
                            "stopped"
                            if index == reached and staging.state == "exception"
                            else ("passed" if index == reached else "not run")
                        ),
                    }
                    for index, name in enumerate(steps)
                ],  # fmt: skip
                "history": self._get_history(staging) + self._get_history(move),
                "exceptions": [
                    {
                        "type": item.exception_type,
                        "description": item.description,
                        "state": item.state,
                        "opened": _dt(item.create_date),
                        "occurrences": item.occurrences,
                        "resolution": item.resolution or None,
                        "resolved_by": item.resolved_by.name or None,
                        "resolved_on": _dt(item.resolved_on),
                    }
                    for item in self.env["ap.sync.exception"].sudo().search([("staging_id", "=", staging.id)])
                ],  # fmt: skip
            },
            "sync_log": [
                {
                    "date": _dt(log.create_date),
                    "direction": log.direction,
                    "method": log.method,
                    "endpoint": log.endpoint,
                    "event_type": log.event_type,
                    "event_id": log.event_id,
                    "http_status": log.http_status,
                    "outcome": log.outcome,
                    "duration_ms": log.duration_ms,
                    "error": log.error or None,
                }
                for log in self.env["ap.sync.log"]
                .sudo()
                .search([("staging_id", "=", staging.id)], order="id")
            ],  # fmt: skip
            "outbox": [
                {
                    "id": f"OUT-{msg.id}",
                    "created": _dt(msg.create_date),
                    "kind": msg.kind,
                    "status": msg.status,
                    "method": msg.method,
                    "path": msg.path,
                    "payload": msg.payload,
                    "state": msg.state,
                    "attempts": msg.attempts,
                    "last_status": msg.last_status,
                    "done_at": _dt(msg.done_at),
                    "idempotency_key": msg.idempotency_key,
                }
                for msg in self.env["ap.sync.outbox"]
                .sudo()
                .search([("staging_id", "=", staging.id)], order="id")
            ],  # fmt: skip
            "overrides": self._get_overrides(move),
            "posting_gate": {"differences_now": move._ap_gate_problems() if move.state == "draft" else []},
        }

    @api.model
    def _get_overrides(self, move):
        staging = move.ap_staging_id
        overrides = []
        for kind, reason, user in (
            ("duplicate", staging.duplicate_override_reason, staging.duplicate_override_uid),
            ("variance", staging.variance_override_reason, staging.variance_override_uid),
        ):
            if reason:
                overrides.append({"kind": kind, "reason": reason, "by": user.name, "on": None})
        if move.ap_gate_override_reason:
            overrides.append({
                "kind": "posting_gate", "reason": move.ap_gate_override_reason,
                "by": move.ap_gate_override_uid.name, "on": _dt(move.ap_gate_override_date),
            })  # fmt: skip
        return overrides

    @api.model
    def _get_history(self, record):
        entries = []
        for message in record.message_ids.sorted(lambda m: (m.date, m.id)):
            changes = [
                {"field": value.field_id.field_description, "old": value.old_value_char or None,
                 "new": value.new_value_char or None}
                for value in message.sudo().tracking_value_ids
                if value.field_id
            ]  # fmt: skip
            note = html2plaintext(message.body or "").strip()
            if changes or note:
                entries.append({
                    "date": _dt(message.date), "record": record.display_name,
                    "author": message.author_id.name or None, "note": note or None, "changes": changes,
                })  # fmt: skip
        return entries

    # ------------------------------------------------------------------ files
    @api.model
    def _json_bytes(self, move):
        return json.dumps(self._get_data(move), indent=2, ensure_ascii=False, default=str).encode()

    @api.model
    def _report_file(self, moves):
        """(content, extension): PDF where wkhtmltopdf is installed, else the same report as HTML."""
        from odoo.addons.base.models import ir_actions_report

        Report = self.env["ir.actions.report"].sudo()
        if ir_actions_report.wkhtmltopdf_state == "ok":
            content, kind = Report._render_qweb_pdf(REPORT_XMLID, moves.ids)
            return content, "pdf" if kind == "pdf" else "html"  # (Odoo's test mode renders HTML)
        return Report._render_qweb_html(REPORT_XMLID, moves.ids)[0], "html"

    @api.model
    def _filename(self, move, extension):
        name = (move.name if move.name and move.name != "/" else f"draft-{move.id}").replace("/", "-")
        return f"audit-pack-{name}.{extension}"

    @api.model
    def _export_json(self, move):
        self._check_access(move)
        return self.env["ir.attachment"].sudo().create({
            "name": self._filename(move, "json"), "raw": self._json_bytes(move),
            "mimetype": "application/json", "res_model": move._name, "res_id": move.id,
        })  # fmt: skip

    @api.model
    def _get_period_moves(self, company, date_from, date_to):
        return self.env["account.move"].search(
            [("company_id", "=", company.id), ("ap_staging_id", "!=", False), ("date", ">=", date_from),
             ("date", "<=", date_to)], order="date, id",
        )  # fmt: skip

    @api.model
    def _export_zip(self, company, date_from, date_to):
        moves = self._get_period_moves(company, date_from, date_to)
        self._check_access(moves)
        if not moves:
            raise UserError(
                _("No bill from a platform document in %(company)s between %(a)s and %(b)s.",
                  company=company.name, a=date_from, b=date_to)
            )  # fmt: skip
        buffer, index = io.BytesIO(), io.StringIO()
        writer = csv.DictWriter(index, fieldnames=INDEX_COLUMNS)
        writer.writeheader()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for move in moves:
                data = self._get_data(move)
                json_name = self._filename(move, "json")
                archive.writestr(json_name, json.dumps(data, indent=2, ensure_ascii=False, default=str))
                content, extension = self._report_file(move)
                report_name = self._filename(move, extension)
                archive.writestr(report_name, content)
                writer.writerow({
                    "bill": data["bill"]["name"], "bill_id": move.id, "vendor": data["bill"]["vendor"],
                    "vendor_reference": move.ref or "", "invoice_date": data["bill"]["invoice_date"] or "",
                    "currency": move.currency_id.name, "amount_untaxed": move.amount_untaxed,
                    "amount_total": move.amount_total, "state": move.state, "platform": data["document"]["platform"],
                    "document_id": data["document"]["document_id"],
                    "document_sha256": data["document"]["document_sha256"] or "",
                    "payload_sha256": data["payload"]["sha256_recorded"] or "",
                    "payload_verified": data["payload"]["verified"],
                    "approvers": "; ".join(a.get("email") or a.get("name") or "" for a in data["approval"]["approvers"]),
                    "approved_at": data["approval"]["approved_at"] or "",
                    "posted_by": data["bill"]["posted_by"] or "", "posted_on": data["bill"]["posted_on"] or "",
                    "overrides": "; ".join(f"{o['kind']}: {o['reason']}" for o in data["overrides"]),
                    "json_file": json_name, "report_file": report_name,
                })  # fmt: skip
            archive.writestr("index.csv", index.getvalue())
        name = f"audit-packs-{company.name}-{date_from}-{date_to}.zip".replace(" ", "_").replace("/", "-")
        return (
            self.env["ir.attachment"]
            .sudo()
            .create({"name": name, "raw": buffer.getvalue(), "mimetype": "application/zip"})
        )

    @api.model
    def _report_values(self, moves):
        """QWeb report values: the pack of each bill by id, with the payload pretty-printed."""
        packs = {}
        for move in moves:
            data = self._get_data(move)
            try:
                data["payload"]["pretty"] = json.dumps(
                    json.loads(data["payload"]["as_received"] or "null"), indent=2, ensure_ascii=False
                )
            except ValueError:
                data["payload"]["pretty"] = data["payload"]["as_received"]
            packs[move.id] = data
        return packs


class ReportApAuditPack(models.AbstractModel):
    _name = "report.account_ap_sync.report_ap_audit_pack"
    _description = "AP Sync Audit Pack Report"

    @api.model
    def _get_report_values(self, docids, data=None):
        moves = self.env["account.move"].browse(docids)
        self.env["ap.audit.pack"]._check_access(moves)
        return {
            "doc_ids": docids,
            "doc_model": "account.move",
            "docs": moves,
            "packs": self.env["ap.audit.pack"]._report_values(moves),
        }
