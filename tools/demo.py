"""make demo: a month of AP traffic through the real pipeline, then Odoo left running to look around.

    .venv/bin/python tools/demo.py [--invoices 200] [--exit] [--provider rossum]

1. (Re)creates the database ap_sync_demo with the module and its demo data.
2. Starts the reference AP platform on a free loopback port (--platform-port to choose one; the demo
   platform's base URL is set to it) and Odoo (2 workers and a cron worker, through the launcher
   .venv/bin/odoo) on 127.0.0.1 at odoo.conf's http_port (8069 unless set up otherwise; --port).
3. The platform sends a month of signed invoice.approved webhooks: clean invoices, invoices against
   the demo purchase orders, credit notes, and some with each kind of problem (unknown vendor, wrong
   totals, unknown tax rate, price above the PO, billed above received, unknown PO, new IBAN,
   duplicate number, approval still pending).
4. Odoo's crons turn them into bills and exceptions; the script posts some bills and pays a few.
5. Prints a summary (received, billed, exceptions by type, messages delivered, dead, and what the
   platform received), then keeps both servers running until Ctrl-C (or stops with --exit).
"""

import argparse
import json
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from ap_platform_server import ApPlatformServer, make_invoice  # noqa: E402
from odoo_server import odoo_bin, odoo_server  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
API_KEY = "demo-api-key"
VENDORS = {
    "acme": {"name": "Acme Supplies B.V.", "vat": "NL123456789B01", "iban": "NL91ABNA0417164300"},
    "bright": {"name": "Bright Office Furniture NV", "vat": "BE0477472701", "iban": "BE68539007547034"},
    "northwind": {
        "name": "Northwind IT Services GmbH",
        "vat": "DE129273398",
        "iban": "DE89370400440532013000",
    },
}


def build_month(count, currency, orders):
    """(label, invoice) pairs: mostly clean, some with each kind of problem."""
    rng = random.Random(42)
    invoices, clean = [], []

    def add(label, **kwargs):
        index = len(invoices) + 1
        kwargs.setdefault("doc_id", f"demo_inv_{index:04d}")
        kwargs.setdefault("number", f"INV-2026-{index:04d}")
        kwargs.setdefault("supplier", dict(VENDORS[rng.choice(list(VENDORS))]))
        kwargs.setdefault(
            "lines",
            [{"quantity": str(rng.randint(1, 9)), "unit_price": f"{rng.randint(500, 40000) / 100:.2f}",
              "description": rng.choice(["Office supplies", "Maintenance", "Consulting", "Shipping", "Licences"]),
              "tax": {"category": "S", "rate": rng.choice(["21", "21", "6"])}} for _n in range(rng.randint(1, 4))],
        )  # fmt: skip
        kwargs.setdefault("issue_date", f"2026-11-{rng.randint(1, 28):02d}")
        invoice = make_invoice(currency=currency, **kwargs)
        invoices.append((label, invoice))
        return invoice

    paper, support = orders["paper"], orders["support"]
    s21 = {"category": "S", "rate": "21"}
    for _n in range(8):
        add("po_match", supplier=dict(VENDORS["acme"]), purchase_order_ref=paper,
            lines=[{"quantity": "2", "unit_price": "12.50", "po_line_ref": f"{paper}/1", "tax": s21}])  # fmt: skip
    for _n in range(5):
        add("po_match", supplier=dict(VENDORS["northwind"]), purchase_order_ref=support,
            lines=[{"quantity": "2", "unit_price": "85.00", "po_line_ref": f"{support}/1", "tax": s21}])  # fmt: skip
    for _n in range(2):
        add("price_variance", supplier=dict(VENDORS["acme"]), purchase_order_ref=paper,
            lines=[{"quantity": "1", "unit_price": "15.00", "po_line_ref": f"{paper}/1", "tax": s21}])  # fmt: skip
        add("receipt_missing", supplier=dict(VENDORS["acme"]), purchase_order_ref=paper,
            lines=[{"quantity": "10", "unit_price": "12.50", "po_line_ref": f"{paper}/1", "tax": s21}])  # fmt: skip
        add("po_not_found", supplier=dict(VENDORS["bright"]), purchase_order_ref="P99999")
    for n in range(8):
        add("unknown_vendor", supplier={"name": f"New Supplier {n} Ltd", "vat": f"GB{900000000 + n}"})
    for _n in range(6):
        bad = add("arithmetic")
        bad["totals"]["net"] = f"{float(bad['totals']['net']) + 10:.2f}"
        add(
            "tax_mapping",
            lines=[{"quantity": "1", "unit_price": "100.00", "tax": {"category": "S", "rate": "19"}}],
        )
        supplier = dict(VENDORS["acme"], iban="GB33BUKB20201555555555")
        add("bank_account_change", supplier=supplier)
        add("approval_pending", approval_status="pending")
    while len(invoices) < count - 10:
        clean.append(add("clean"))
    for original in clean[:5]:  # the same invoice sent again under another document id
        add("duplicate", number=original["number"], supplier=original["supplier"], lines=original["lines"],
            issue_date=original["issue_date"])  # fmt: skip
    for original in clean[5:10]:
        add("credit_note", document_type="credit_note", supplier=original["supplier"],
            preceding_invoice={"number": original["number"], "issue_date": original["issue_date"]},
            lines=[dict(original["lines"][0], quantity="1")])  # fmt: skip
    return invoices[:count]


def post_and_pay(registry, platform_id):
    """An accountant posts 30 bills and pays 10 of them (one transaction)."""
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        bills = env["ap.invoice.staging"].search(
            [("platform_id", "=", platform_id), ("state", "=", "bill_created"), ("document_type", "=", "invoice")],
            order="id", limit=30,
        ).move_id  # fmt: skip
        bills.action_post()
        for bill in bills[:10]:
            env["account.payment.register"].with_context(
                active_model="account.move", active_ids=bill.ids
            ).create({"payment_date": "2026-11-30"})._create_payments()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--database", default="ap_sync_demo")
    parser.add_argument("--config", default=str(ROOT / "odoo.conf"))
    parser.add_argument("--port", type=int, help="Odoo's HTTP port (default: http_port of the config file)")
    parser.add_argument(
        "--platform-port", type=int, default=0, help="the reference platform's port (default: a free one)"
    )
    parser.add_argument(
        "--exit", action="store_true", help="stop after the summary instead of leaving Odoo running"
    )
    parser.add_argument(
        "--provider", choices=("generic", "rossum"), default="generic",
        help="rossum: the month comes from a fake Rossum (tools/rossum_server.py) instead",
    )  # fmt: skip
    args = parser.parse_args()

    import odoo
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry
    from odoo.service import db as db_service

    odoo.tools.config.parse_config(["-c", args.config, "--log-level=warn"])
    odoo_port = args.port or odoo.tools.config["http_port"]
    if args.database in db_service.list_dbs(force=True):
        print(f"==> Dropping {args.database} for a fresh month", flush=True)
        db_service.exp_drop(args.database)
    print(f"==> Creating {args.database} with account_ap_sync and its demo data", flush=True)
    subprocess.run(
        [odoo_bin(), "-c", args.config, "-d", args.database, "-i", "account_ap_sync",
         "--stop-after-init", "--no-http", "--log-level=warn"], check=True,
    )  # fmt: skip
    registry = Registry(args.database)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        currency = env.company.currency_id.name
        orders = {
            "paper": env.ref("account_ap_sync.demo_po_acme").name,
            "support": env.ref("account_ap_sync.demo_po_northwind").name,
        }
        platform_id = env.ref("account_ap_sync.demo_platform").id

    month = build_month(args.invoices, currency, orders)
    with ApPlatformServer(port=args.platform_port, api_key=API_KEY) as platform_server:
        with registry.cursor() as cr:  # the demo platform calls the reference server wherever it listens
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["ap.platform"].browse(platform_id).base_url = platform_server.url
        with odoo_server(
            args.config, args.database, workers=2, port=odoo_port, cron_threads=1,
            extra_args=("--limit-time-real-cron=0",),
        ) as url:  # fmt: skip
            if args.provider == "rossum":
                import demo_rossum

                return demo_rossum.run(
                    registry, url, count=min(args.invoices, 60), keep_running=not args.exit
                )
            return run_month(args, registry, platform_id, month, platform_server, url)


def run_month(args, registry, platform_id, month, platform_server, url):
    """Send the month, wait for the crons, post and pay, print the summary; then keep Odoo up unless --exit."""
    print(f"==> Reference platform on {platform_server.url}, Odoo on {url}", flush=True)
    for _label, invoice in month:
        platform_server.add_invoice(invoice)

    def send(item):
        _label, invoice = item
        response = platform_server.send_webhook(url, "demo", "invoice.approved", invoice, secret=SECRET)
        return response.status_code

    print(f"==> The platform sends {len(month)} approved invoices", flush=True)
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(send, month))
    print(f"    answers: { {status: statuses.count(status) for status in set(statuses)} }", flush=True)

    def count(query, params=()):
        with registry.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall()

    deadline = time.monotonic() + 600
    while count("SELECT count(*) FROM ap_invoice_staging WHERE state = 'received' AND platform_id = %s",
                [platform_id])[0][0] and time.monotonic() < deadline:  # fmt: skip
        time.sleep(2)
    print("==> Processed; an accountant posts 30 bills and pays 10 of them", flush=True)
    for attempt in range(5):  # the crons work on the same database: retry on a serialization failure
        try:
            post_and_pay(registry, platform_id)
            break
        except psycopg2.errors.SerializationFailure:
            print(f"    concurrent update, trying again ({attempt + 1})", flush=True)
            time.sleep(1)
    # Wait until the crons have delivered everything (two quiet polls in a row), at most 5 minutes.
    deadline, quiet = time.monotonic() + 300, 0
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(2)
        busy = count(
            """SELECT (SELECT count(*) FROM ap_sync_outbox WHERE state = 'pending')
                    + (SELECT count(*) FROM ap_invoice_staging WHERE state = 'received')"""
        )[0][0]
        quiet = quiet + 1 if not busy else 0
    if quiet < 2:
        print("    (some messages are still waiting for a retry: see Monitoring > Outbox)", flush=True)
    states = dict(count("SELECT state, count(*) FROM ap_invoice_staging WHERE platform_id = %s GROUP BY state",
                        [platform_id]))  # fmt: skip
    exceptions = count(
        """SELECT exception_type, count(*) FROM ap_invoice_staging WHERE platform_id = %s AND state = 'exception'
           GROUP BY exception_type ORDER BY 2 DESC""", [platform_id],
    )  # fmt: skip
    outbox = dict(count("SELECT state, count(*) FROM ap_sync_outbox GROUP BY state"))
    received_by_platform = {}
    for entry in platform_server.erp_status:
        status = entry["body"]["status"]
        received_by_platform[status] = received_by_platform.get(status, 0) + 1
    print()
    print("Summary of the month")
    print(f"  {'invoices received':38}{sum(states.values()):>6}")
    print(f"  {'bills created (draft / posted / paid)':38}"
          f"{states.get('bill_created', 0) + states.get('posted', 0) + states.get('paid', 0):>6}"
          f"   ({states.get('bill_created', 0)} / {states.get('posted', 0)} / {states.get('paid', 0)})")  # fmt: skip
    print(f"  {'exceptions for accountants':38}{states.get('exception', 0):>6}")
    for kind, number in exceptions:
        print(f"    {kind:36}{number:>6}")
    print(f"  {'outbox messages delivered':38}{outbox.get('done', 0):>6}")
    print(f"  {'outbox messages pending':38}{outbox.get('pending', 0):>6}")
    print(f"  {'outbox messages dead':38}{outbox.get('dead', 0):>6}")
    print(f"  platform received erp-status: {json.dumps(received_by_platform, sort_keys=True)}")
    print(f"  platform received PO updates: {len(platform_server.purchase_orders)}, "
          f"vendor updates: {len(platform_server.vendors)}")  # fmt: skip
    if args.exit:
        return 0
    print()
    print(f"Odoo is running on {url} (database {args.database}, admin / admin): Accounting > AP Sync.")
    print("Ctrl-C stops Odoo and the reference platform.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
