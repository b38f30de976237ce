"""Processing benchmark: staged invoices -> draft vendor bills, beside plain account.move.create.

    .venv/bin/python tools/bench/processing.py [--sizes 200,2000] [--lines 10]

For each size N: N invoices of --lines lines are staged (not timed), half of them referencing
confirmed purchase orders (2-way matched service lines). Then, in the same run and on the same
data:
  baseline  the same N draft bills created directly, one account.move.create per bill;
  pipeline  the processing cron's work (claim in batches of 100, every step, one bill per invoice).
Both commit per batch of 100, as the cron does; the data stays in the benchmark database (each
run has its own vendors, products and platform). Prints invoices per second and SQL
queries per invoice for both, and both ratios (issue 16's targets: time <= 1.2 x baseline, queries
per invoice <= 1.5 x the baseline's, the same at every size).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from ap_platform_server import make_invoice  # noqa: E402
from odoo_server import odoo_bin  # noqa: E402

BATCH = 100


def prepare_database(conf, database):
    import odoo
    from odoo.service import db as db_service

    odoo.tools.config.parse_config(["-c", str(conf), "--log-level=warn"])
    action = "-u" if database in db_service.list_dbs(force=True) else "-i"
    subprocess.run(
        [odoo_bin(), "-c", str(conf), "-d", database, action, "account_ap_sync",
         "--without-demo=all", "--stop-after-init", "--no-http", "--log-level=warn"],
        check=True,
    )  # fmt: skip


def setup_data(env, size, lines, tag):
    """Vendors, a tax with its mapping, products, confirmed POs for half the invoices; staged invoices."""
    from odoo import Command

    eur = env.ref("base.EUR")
    eur.active = True
    tax = env["account.tax"].create({"name": f"Bench 21% {tag}", "amount": 21, "type_tax_use": "purchase"})
    platform = env["ap.platform"].create(
        {"name": f"Bench {tag}", "code": f"bench_{tag}", "verify_approval": False}
    )
    env["ap.sync.mapping"].create(
        {"mapping_type": "tax", "external_code": "S/21", "tax_id": tax.id, "platform_id": platform.id}
    )
    vendors = env["res.partner"].create(
        [
            {"name": f"Bench Vendor {tag} {n}", "is_company": True, "vat": f"NL{tag}{n:05d}B01"}
            for n in range(20)
        ]
    )
    products = env["product.product"].create(
        [{"name": f"Bench service {tag} {n}", "default_code": f"BS-{tag}-{n}", "type": "service",
          "purchase_method": "purchase", "supplier_taxes_id": [Command.set(tax.ids)]} for n in range(lines)]
    )  # fmt: skip
    Event = env["ap.sync.event"]
    documents = []
    for index in range(size):
        vendor = vendors[index % len(vendors)]
        # Distinct amounts per vendor: the duplicate guard must not see look-alikes.
        price = f"{10 + (index // len(vendors)) * 0.01:.2f}"
        order = None
        if index % 2 == 0:
            order = env["purchase.order"].create({
                "partner_id": vendor.id,
                "order_line": [Command.create({"product_id": p.id, "product_qty": 5, "price_unit": float(price),
                                               "taxes_id": [Command.set(tax.ids)]}) for p in products],
            })  # fmt: skip
            order.button_confirm()
        invoice_lines = [
            {
                "quantity": "5",
                "unit_price": price,
                "product_code": product.default_code,
                "description": product.name,
            }
            | ({"po_line_ref": f"{order.name}/{n + 1}"} if order else {})
            for n, product in enumerate(products)
        ]
        data = make_invoice(
            doc_id=f"bench_{tag}_{index}", number=f"BENCH-{tag}-{index}", currency="EUR", lines=invoice_lines,
            supplier={"name": vendor.name, "vat": vendor.vat},
            **({"purchase_order_ref": order.name} if order else {}),
        )  # fmt: skip
        envelope = {"type": "invoice.approved", "data": data}
        Event._store(platform, f"m_{tag}_{index}", envelope, json.dumps(envelope).encode())
        documents.append((vendor, order, data))
    return platform, tax, products, documents


def baseline(env, documents, tax, products):
    """One account.move.create per bill, committed per batch of 100 like the cron. The bills are
    dated a year later than the invoices so that the pipeline's duplicate guard does not see them."""
    journal = env["account.journal"].search(
        [("type", "=", "purchase"), ("company_id", "=", env.company.id)], limit=1
    )
    eur = env.ref("base.EUR")
    for batch_start in range(0, len(documents), BATCH):
        for vendor, order, data in documents[batch_start : batch_start + BATCH]:
            po_lines = order.order_line if order else [None] * len(products)
            env["account.move"].create({
                "move_type": "in_invoice", "partner_id": vendor.id, "ref": "BASELINE-" + data["number"],
                "invoice_date": "2027-11-02", "currency_id": eur.id, "journal_id": journal.id,
                "invoice_line_ids": [
                    (0, 0, {"name": line["description"], "product_id": product.id, "quantity": 5,
                            "price_unit": float(line["unit_price"]), "tax_ids": [(6, 0, tax.ids)],
                            **({"purchase_line_id": pol.id} if pol else {})})
                    for line, product, pol in zip(data["lines"], products, po_lines)
                ],
            })  # fmt: skip
        env.cr.commit()
        env.invalidate_all()


def pipeline(env, platform):
    """The processing cron's work: claim a batch of 100, process it, commit; until none is left."""
    Staging = env["ap.invoice.staging"]
    done = 0
    while True:
        batch = Staging._claim(limit=BATCH, platforms=platform)
        if not batch:
            break
        batch._process()
        env.cr.commit()
        done += len(batch)
        env.invalidate_all()
    return done


def measure(registry, size, lines, tag):
    from odoo import SUPERUSER_ID, api

    results = {}
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        platform, tax, products, documents = setup_data(env, size, lines, tag)
        ids = (platform.id, tax.id, products.ids, [(v.id, o.id if o else None, d) for v, o, d in documents])
    # The pipeline runs first: the baseline's bills, linked to the same PO lines, would otherwise have
    # billed those lines already.
    for name in ("pipeline", "baseline"):
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            platform = env["ap.platform"].browse(ids[0])
            tax = env["account.tax"].browse(ids[1])
            products = env["product.product"].browse(ids[2])
            documents = [
                (env["res.partner"].browse(v), env["purchase.order"].browse(o) if o else None, d)
                for v, o, d in ids[3]
            ]
            queries = cr.sql_log_count
            started = time.perf_counter()
            if name == "baseline":
                baseline(env, documents, tax, products)
            else:
                pipeline(env, platform)
            elapsed = time.perf_counter() - started
            results[name] = {"seconds": elapsed, "queries": cr.sql_log_count - queries}
            if name == "pipeline":
                cr.execute(
                    "SELECT state, count(*) FROM ap_invoice_staging WHERE platform_id = %s GROUP BY state",
                    [platform.id],
                )
                results[name]["states"] = dict(cr.fetchall())
    return results


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="200,2000")
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--database", default="ap_sync_bench")
    parser.add_argument("--config", default=str(ROOT / "odoo.conf"))
    args = parser.parse_args()
    prepare_database(args.config, args.database)
    from odoo.modules.registry import Registry

    registry = Registry(args.database)
    rows = []
    for size in (int(value) for value in args.sizes.split(",")):
        tag = str(int(time.time()))[-5:]
        results = measure(registry, size, args.lines, tag)
        rows.append((size, results))
    print()
    print(f"processing benchmark: invoices of {args.lines} lines, half matched against POs")
    print(f"{'N':>6} {'phase':10}{'seconds':>9}{'inv/s':>9}{'queries/inv':>13}  result")
    for size, results in rows:
        for name in ("baseline", "pipeline"):
            result = results[name]
            print(
                f"{size:6d} {name:10}{result['seconds']:9.1f}{size / result['seconds']:9.1f}"
                f"{result['queries'] / size:13.1f}  {result.get('states', '')}"
            )
        ratio = results["pipeline"]["seconds"] / results["baseline"]["seconds"]
        queries = results["pipeline"]["queries"] / results["baseline"]["queries"]
        print(f"{size:6d} pipeline / baseline time: {ratio:.2f} (target <= 1.2)")
        print(f"{size:6d} pipeline / baseline queries per invoice: {queries:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
