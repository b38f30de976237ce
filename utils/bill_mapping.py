"""BILL (bill.com v3) objects to canonical documents: pure functions, no Odoo, no network.

BILL writes money as JSON numbers (``"amount": 228.99``). A number read through ``float`` may not be the
number that was sent, so BILL JSON is always parsed here with ``parse_float=Decimal`` (``loads``) and
amounts become canonical decimal strings from those Decimals, digit for digit. A float met anywhere is
refused (:class:`BillMappingError`), never rounded.

The shapes follow BILL's documentation (developer.bill.com): the bill of "Get bill details"
(``GET /v3/bills/{billId}``) and of the "AP bill notification payloads", with ``invoice.invoiceNumber``,
``invoice.invoiceDate``, ``dueDate``, ``amount``, ``billLineItems[].classifications.chartOfAccountId``,
``purchaseOrderNumber``, ``approvalStatus`` and ``approvers`` ("Bill approvals").
"""

import json
from decimal import Decimal, InvalidOperation

from . import input_guard

# BILL approvalStatus values (Bill approvals): only APPROVED lets a bill through by default.
APPROVED = "APPROVED"
UNASSIGNED = "UNASSIGNED"  # no approval policy matched the bill
DENIED = "DENIED"
# Notification event type -> the member of the body holding the object (Notification payloads reference).
EVENT_OBJECTS = {
    "bill.created": "bill",
    "bill.updated": "bill",
    "bill.archived": "bill",
    "bill.restored": "bill",
    "vendor.created": "vendor",
    "vendor.updated": "vendor",
    "payment.updated": "payment",
    "payment.failed": "payment",
}


class BillMappingError(ValueError):
    """The BILL object cannot become a canonical document; ``path`` points at the offending member."""

    def __init__(self, message, path=""):
        super().__init__(message)
        self.path = path


def loads(text):
    """Parse BILL JSON with exact numbers. BILL documents its payloads as "JSON-escaped and presented as a
    string" (Webhook API notification rules): a body that is a JSON string holding JSON is parsed twice."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if input_guard.too_deep(text):  # json.loads would raise RecursionError on thousands of levels
        raise ValueError(f"nesting too deep: more than {input_guard.MAX_DEPTH} levels of arrays and objects")
    value = json.loads(text, parse_float=Decimal)
    if isinstance(value, str):
        value = json.loads(value, parse_float=Decimal)
    return value


def money(value, path):
    """Canonical decimal string of a BILL amount (a Decimal or int from ``loads``, or a decimal string)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise BillMappingError(
            f"{value!r} is not an exact amount (BILL JSON must be read with Decimal, never float)", path
        )
    try:
        number = Decimal(value) if isinstance(value, int | str) else value
        if not isinstance(number, Decimal) or not number.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise BillMappingError(f"{value!r} is not a number", path) from exc
    return format(number, "f")


def _date(value):
    """``2026-12-15T00:00:00.000Z`` or ``2026-12-15`` -> ``2026-12-15``."""
    return str(value)[:10] if value else None


def approval_status(bill, accept_unassigned=False):
    """Canonical approval status: ``approved`` for APPROVED (and UNASSIGNED when the platform says a bill
    without approval policy needs none), else BILL's own word in lower case (``assigned``, ``approving``,
    ``denied``...)."""
    status = str(bill.get("approvalStatus") or "").upper()
    if status == APPROVED or (accept_unassigned and status == UNASSIGNED):
        return "approved"
    return status.lower() or "unknown"


def approvers(bill, users=None):
    """Approval evidence from the bill's ``approvers`` array: user, status, order, when it changed."""
    users = users or {}
    result = []
    for approver in sorted(bill.get("approvers") or [], key=lambda a: a.get("approverOrder") or 0):
        if not isinstance(approver, dict):
            continue
        user_id = approver.get("userId") or approver.get("userGroupId") or "?"
        user = users.get(user_id) or {}
        name = " ".join(filter(None, (user.get("firstName"), user.get("lastName")))) or user_id
        result.append(
            {
                "name": name,
                "email": user.get("email") or None,
                "role": f"{approver.get('status') or '?'} at {approver.get('statusChangedTime') or '?'}",
            }
        )
    return [{key: value for key, value in item.items() if value} for item in result]


def bill_to_invoice(bill, vendor=None, accept_unassigned=False, default_currency="USD"):
    """The canonical invoice (schema 1.0, docs/contract.md section 3) of a BILL bill.

    ``vendor`` is the BILL vendor of ``bill["vendorId"]`` when known (its ``taxId`` is the vendor's VAT for
    matching, after the vendor mapping on ``external_id``). Lines come from ``billLineItems``; a bill
    without line items becomes one line of its ``amount``. BILL bills carry no tax: ``totals.tax`` is 0.
    """
    if not isinstance(bill, dict) or not bill.get("id"):
        raise BillMappingError("a BILL bill needs an id", "/id")
    vendor = vendor or {}
    invoice_info = bill.get("invoice") or {}
    header_classes = bill.get("classifications") or {}
    lines = []
    items = bill.get("billLineItems") or []
    for index, item in enumerate(items):
        path = f"/billLineItems/{index}"
        amount = money(item.get("amount"), f"{path}/amount")
        quantity, price = item.get("quantity"), item.get("price")
        if quantity is not None and price is not None:
            quantity, unit_price = money(quantity, f"{path}/quantity"), money(price, f"{path}/price")
        else:
            quantity, unit_price = "1", amount
        classes = item.get("classifications") or {}
        line = {
            "id": str(item.get("id") or index + 1),
            "description": (item.get("description") or bill.get("description") or "")[:1000] or None,
            "quantity": quantity,
            "unit_price": unit_price,
            "net_amount": amount,
            "account_code": classes.get("chartOfAccountId") or header_classes.get("chartOfAccountId"),
        }
        lines.append({key: value for key, value in line.items() if value is not None})
    total = money(bill.get("amount"), "/amount")
    if not items:
        line = {"id": "1", "quantity": "1", "unit_price": total, "net_amount": total}
        if bill.get("description"):
            line["description"] = bill["description"][:1000]
        if header_classes.get("chartOfAccountId"):
            line["account_code"] = header_classes["chartOfAccountId"]
        lines.append(line)
    supplier = {
        "external_id": bill.get("vendorId"),
        "name": vendor.get("name") or bill.get("vendorName"),
        "vat": vendor.get("taxId"),
        "email": vendor.get("email"),
    }
    due = bill.get("dueAmount")
    status = approval_status(bill, accept_unassigned)
    invoice = {
        "schema_version": "1.0",
        "id": bill["id"],
        "updated_at": bill.get("updatedTime") or bill.get("createdTime"),
        "document_type": "invoice",
        "number": invoice_info.get("invoiceNumber"),
        "issue_date": _date(invoice_info.get("invoiceDate")),
        "due_date": _date(bill.get("dueDate")),
        "currency": str(bill.get("billCurrency") or default_currency).upper(),
        "supplier": {key: value for key, value in supplier.items() if value},
        "purchase_order_ref": bill.get("purchaseOrderNumber"),
        "lines": lines,
        "totals": {
            "net": total,
            "tax": "0",
            "gross": total,
            "payable": money(due, "/dueAmount") if due is not None else total,
        },
        "approval": {"status": status, "approvers": approvers(bill)},
    }
    approved_at = [a.get("statusChangedTime") for a in bill.get("approvers") or [] if isinstance(a, dict)]
    if status == "approved" and any(approved_at):
        invoice["approval"]["approved_at"] = max(filter(None, approved_at))
    return {key: value for key, value in invoice.items() if value is not None}


def vendor_to_canonical(vendor):
    """The canonical vendor (schema 1.0, contract section 4) of a BILL vendor."""
    if not isinstance(vendor, dict) or not vendor.get("id"):
        raise BillMappingError("a BILL vendor needs an id", "/id")
    address = vendor.get("address") or {}
    result = {
        "schema_version": "1.0",
        "external_id": vendor["id"],
        "name": vendor.get("name") or vendor["id"],
        "vat": vendor.get("taxId"),
        "email": vendor.get("email"),
        "phone": vendor.get("phone"),
        "blocked": bool(vendor.get("archived")),
    }
    street = ", ".join(filter(None, (address.get("line1"), address.get("line2"))))
    country = address.get("country")
    canonical_address = {
        "street": street or None,
        "zip": address.get("zipOrPostalCode"),
        "city": address.get("city"),
        "country": country.upper() if isinstance(country, str) and len(country) == 2 else None,
    }
    if any(canonical_address.values()):
        result["address"] = {key: value for key, value in canonical_address.items() if value}
    return {key: value for key, value in result.items() if value is not None}


def vendor_patch(canonical):
    """``PATCH /v3/vendors/{vendorId}`` body from a canonical vendor (Odoo's vendor master)."""
    address = canonical.get("address") or {}
    body = {
        "name": canonical.get("name"),
        "email": canonical.get("email"),
        "phone": canonical.get("phone"),
        "taxId": canonical.get("vat"),
        "address": {
            key: value
            for key, value in {
                "line1": address.get("street"),
                "city": address.get("city"),
                "zipOrPostalCode": address.get("zip"),
                "country": address.get("country"),
            }.items()
            if value
        }
        or None,
    }
    return {key: value for key, value in body.items() if value}


def dumps(value):
    """JSON text for BILL with exact numbers: a ``Decimal`` is written as a JSON number, digit for digit."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        raise BillMappingError(f"{value!r}: amounts sent to BILL are Decimals, never floats")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def error_codes(body):
    """The ``code`` values of a BILL v3 error body (a list of {code, message, ...}), e.g. ``{"BDC_1109"}``."""
    items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    return {str(item.get("code")) for item in items if isinstance(item, dict) and item.get("code")}


def error_text(body):
    items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    return (
        "; ".join(f"{item.get('code')}: {item.get('message')}" for item in items if isinstance(item, dict))
        or str(body)[:300]
    )
