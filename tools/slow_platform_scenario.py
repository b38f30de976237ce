"""The slow-platform scenario of issue 11, shared by tests/test_crash_e2e.py and tools/bench/slow_platform.py.

N approved invoices are sent by webhook to a prefork Odoo; the platform (tools/ap_platform_server.py)
answers every call after ``latency`` seconds; approval verification is on, so each invoice costs one
GET /invoices/{id} and one POST /invoices/{id}/erp-status. Development tooling: never imported by the
module itself.
"""

import collections
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from ap_platform_server import make_invoice, send_webhook

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
API_KEY = "slow-platform-api-key"

# Platform id -> what ``setup`` changed outside the platform's own records (for ``cleanup``).
_changed = {}


def setup(env, platform_url, tag, max_concurrent_calls=4):
    """A committed-ready platform (verify approval on), its vendor and tax mapping. Returns the platform."""
    tax = env["account.tax"].create(
        {"name": f"Slow 21% {tag}", "amount": 21, "type_tax_use": "purchase", "company_id": env.company.id}
    )
    platform = env["ap.platform"].create(
        {
            "name": f"Slow platform {tag}",
            "code": f"slow_{tag}",
            "base_url": platform_url,
            "api_key": API_KEY,
            "webhook_secret": WEBHOOK_SECRET,
            "verify_approval": True,
            "max_concurrent_calls": max_concurrent_calls,
        }
    )
    env["ap.sync.mapping"].create(
        {"mapping_type": "tax", "external_code": "S/21", "tax_id": tax.id, "platform_id": platform.id}
    )
    vendor = env["res.partner"].create(
        {"name": f"Slow Vendor {tag}", "is_company": True, "vat": f"NL{tag}B01"}
    )
    eur = env.ref("base.EUR")
    _changed[platform.id] = {"tax_id": tax.id, "vendor_id": vendor.id, "eur_active": eur.active}
    eur.active = True
    return platform


def pause_other_crons(cr):
    """Deactivate the database's other scheduled actions (returns their ids, for ``resume_crons``).

    A database's own jobs (auto-vacuum, the procurement scheduler...) are all due right after it was
    installed and may take a cron worker's whole pass: not what the scenario measures."""
    ours = [
        row[0]
        for row in _fetch(
            cr,
            "SELECT res_id FROM ir_model_data WHERE module = 'account_ap_sync' AND model = 'ir.cron'",
        )
    ]
    ids = [
        row[0]
        for row in _fetch(
            cr, "UPDATE ir_cron SET active = false WHERE active AND NOT id = ANY(%s) RETURNING id", [ours]
        )
    ]
    cr.commit()
    return ids


def killed_runs(cr, since):
    """Runs of the module's crons killed at the time limit since ``since`` (UTC): Odoo's progress row
    of a run counts the kills in a row, from the run's start until its end resets it."""
    cr.execute(
        """SELECT count(*) FROM ir_cron_progress p
            WHERE p.create_date >= %s AND p.timed_out_counter > 0
              AND p.cron_id IN (SELECT res_id FROM ir_model_data WHERE module = 'account_ap_sync' AND model = 'ir.cron')
              AND p.id < (SELECT max(id) FROM ir_cron_progress q WHERE q.cron_id = p.cron_id)""",
        [since],
    )
    count = cr.fetchone()[0]
    cr.commit()
    return count


def db_now(cr):
    cr.execute("SELECT now() at time zone 'UTC'")
    return cr.fetchone()[0]


def resume_crons(cr, ids):
    if ids:
        cr.execute("UPDATE ir_cron SET active = true WHERE id = ANY(%s)", [ids])
        cr.commit()


def _fetch(cr, query, params=None):
    cr.execute(query, params)
    return cr.fetchall()


def invoices(tag, count):
    """``count`` approved invoices of the scenario's vendor, with distinct numbers and amounts."""
    return [
        make_invoice(
            doc_id=f"slow_{tag}_{index:04d}",
            number=f"SLOW-{tag}-{index:04d}",
            supplier={"name": f"Slow Vendor {tag}", "vat": f"NL{tag}B01"},
            lines=[{"description": "Consulting", "quantity": "1", "unit_price": f"{100 + index * 0.01:.2f}"}],
        )
        for index in range(count)
    ]


def send_all(odoo_url, code, platform_server, documents, concurrency=8):
    """The platform stores each invoice and sends its invoice.approved webhook. Returns the statuses."""
    for document in documents:
        platform_server.add_invoice(document)

    def send(document):
        return send_webhook(
            odoo_url, code, "invoice.approved", document, WEBHOOK_SECRET, webhook_id=f"msg_{document['id']}"
        ).status_code

    with ThreadPoolExecutor(concurrency) as pool:
        return collections.Counter(pool.map(send, documents))


def snapshot(cr, platform_id):
    """What Odoo holds for the platform: staging states, bills per staging record, outbox states."""
    cr.execute(
        "SELECT state, count(*) FROM ap_invoice_staging WHERE platform_id = %s GROUP BY state", [platform_id]
    )
    states = dict(cr.fetchall())
    cr.execute(
        """SELECT s.id, count(m.id) FROM ap_invoice_staging s
             LEFT JOIN account_move m ON m.ap_staging_id = s.id
            WHERE s.platform_id = %s GROUP BY s.id""",
        [platform_id],
    )
    bills = collections.Counter(count for _id, count in cr.fetchall())
    cr.execute(
        "SELECT state, count(*) FROM ap_sync_outbox WHERE platform_id = %s GROUP BY state", [platform_id]
    )
    outbox = dict(cr.fetchall())
    cr.commit()
    return {"states": states, "bills_per_invoice": dict(bills), "outbox": outbox}


def billed(snap):
    return sum(
        count for state, count in snap["states"].items() if state in ("bill_created", "posted", "paid")
    )


def key_counts(platform_server):
    """How many times each Idempotency-Key reached the platform."""
    with platform_server.lock:
        return collections.Counter(
            e["idempotency_key"] for e in platform_server.requests_log if e["idempotency_key"]
        )


def delivered_statuses(platform_server):
    """Invoice id -> erp-status values the platform accepted (replays excluded)."""
    with platform_server.lock:
        result = collections.defaultdict(list)
        for entry in platform_server.erp_status:
            result[entry["invoice_id"]].append(entry["body"]["status"])
        return dict(result)


def wait_for(registry, platform_id, condition, timeout, poll=0.5):
    """Poll the database until ``condition(snapshot)``; returns the last snapshot (and whether it held)."""
    deadline = time.monotonic() + timeout
    while True:
        with registry.cursor() as cr:
            snap = snapshot(cr, platform_id)
        if condition(snap) or time.monotonic() > deadline:
            return snap, condition(snap)
        time.sleep(poll)


def cleanup(registry, platform_id):
    """Remove what the scenario committed (bills, staging records, logs, outbox, the platform, its tax
    and vendor) and give EUR back its former state: the test database is shared by the whole suite."""
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        moves = env["account.move"].search([("ap_staging_id.platform_id", "=", platform_id)])
        moves.filtered(lambda m: m.state == "posted").button_draft()
        moves.with_context(force_delete=True).unlink()
        for table in ("ap_sync_exception", "ap_sync_outbox", "ap_sync_log", "ap_sync_event", "ap_invoice_staging",
                      "ap_sync_mapping", "ap_platform_secret"):  # fmt: skip
            cr.execute(f"DELETE FROM {table} WHERE platform_id = %s", [platform_id])
        cr.execute("DELETE FROM ap_platform WHERE id = %s", [platform_id])
        # A run of the scenario killed at the time limit leaves its trace on the module's crons.
        cr.execute(
            """DELETE FROM mail_activity WHERE res_model = 'ap.sync.exception' AND res_id IN (
                   SELECT id FROM ap_sync_exception WHERE exception_type = 'cron_failure')"""
        )
        cr.execute("DELETE FROM ap_sync_exception WHERE exception_type = 'cron_failure'")
        cr.execute(
            """UPDATE ir_cron SET failure_count = 0, first_failure_date = NULL WHERE id IN (
                   SELECT res_id FROM ir_model_data WHERE module = 'account_ap_sync' AND model = 'ir.cron')"""
        )
        changed = _changed.pop(platform_id, None)
        if changed:
            env.invalidate_all()  # rows were deleted with SQL above
            for model, record_id in (
                ("account.tax", changed["tax_id"]),
                ("res.partner", changed["vendor_id"]),
            ):
                record = env[model].browse(record_id).exists()
                try:
                    with cr.savepoint():
                        record.unlink()
                except Exception:  # still referenced from elsewhere: archived instead
                    record.active = False
            try:
                with cr.savepoint():
                    env.ref("base.EUR").active = changed["eur_active"]
            except Exception as exc:  # e.g. a company now keeps its books in EUR
                print(f"slow-platform scenario: EUR left active ({exc})", file=sys.stderr)
