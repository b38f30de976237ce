"""Exception queue benchmark: server time of the queue's default list load and of the Overview data.

    .venv/bin/python tools/bench/ui.py --database ap_sync_bench_x [--count 50000] [--real 2000] [--runs 7]

Brings the benchmark database to at least --count open exceptions. The first --real of them are
opened the real way: invoices staged and processed until they stop (unknown vendor, approval not
confirmed, missing tax mapping). The rest are copied at the SQL level from those real ones (staging
record, its exception and the exception's activity, each row a copy of a real row with a new
document id, so every column holds what processing writes), because staging and processing 50,000
invoices one by one takes hours on a small machine. Ages are spread over 60 days and a third are
assigned. One invoice in five of the copies is also billed and posted (with its cycle times), so the
Overview's metric charts have a quarter of activity to group. Then, as an AP Sync user (record
rules apply), times the calls the web client makes, in the same process (server time, no HTTP):

  queue (grouped)  web_read_group of the default view: open exceptions grouped by type;
  queue (list)     web_search_read of the list view's fields, 80 rows, open ones, default order;
  overview         ap.sync.dashboard.get_dashboard_data (every platform's figures, the service
                   levels, the reconciliations and the business-metric charts of the last 30 days);
  overview 90 d    the same with the charts over 90 days;
  baseline         web_search_read of 80 activities (mail.activity's list view), out of as many
                   activities as there are exceptions: plain Odoo on the same data.

Prints the median and the slowest of --runs runs of each (target: the queue and the overview each
under 0.5 s).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tools" / "bench"))

from ap_platform_server import make_invoice  # noqa: E402
from processing import prepare_database  # noqa: E402

BATCH = 250
OPEN = ("open", "in_progress")


def ensure_user(env):
    user = env["res.users"].search([("login", "=", "bench_ap_user")])
    if not user:
        user = env["res.users"].create({
            "name": "Bench AP User", "login": "bench_ap_user",
            "groups_id": [(6, 0, [env.ref("base.group_user").id, env.ref("account_ap_sync.group_ap_sync_user").id])],
        })  # fmt: skip
    return user


TARGET = 0.5


def fill(registry, count):
    """Stage and process invoices until ``count`` exceptions are open; returns how many were added."""
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        user = ensure_user(env)
        missing = count - env["ap.sync.exception"].search_count([("state", "in", OPEN)])
        if missing <= 0:
            return 0, user.id
        env.ref("base.EUR").active = True
        tag = str(int(time.time()))[-6:]
        platform = env["ap.platform"].create({"name": f"Bench UI {tag}", "code": f"bench_ui_{tag}",
                                              "verify_approval": False})  # fmt: skip
        tax = env["account.tax"].create(
            {"name": f"Bench UI 21% {tag}", "amount": 21, "type_tax_use": "purchase"}
        )
        env["ap.sync.mapping"].create(
            {"mapping_type": "tax", "external_code": "S/21", "tax_id": tax.id, "platform_id": platform.id}
        )
        cr.commit()
        platform_id, user_id = platform.id, user.id
    Staging_ids = []
    for start in range(0, missing, BATCH):
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            platform = env["ap.platform"].browse(platform_id)
            Event = env["ap.sync.event"]
            ids = []
            for index in range(start, min(start + BATCH, missing)):
                kind = index % 10
                extra = {}
                if kind < 7:  # unknown vendor
                    supplier = {"external_id": f"BV-{tag}-{index}", "name": f"Bench Unknown {tag} {index}"}
                else:
                    supplier = {"name": "Bench Known Vendor", "vat": "NL000099998B77"}
                    extra = {"approval_status": "pending"} if kind < 9 else {"tax_rate": "7.7"}
                data = make_invoice(doc_id=f"bench_ui_{tag}_{index}", number=f"BUI-{tag}-{index}",
                                    supplier=supplier, **extra)  # fmt: skip
                envelope = {"type": "invoice.approved", "data": data}
                _status, _body, event = Event._store(
                    platform, f"bui_{tag}_{index}", envelope, json.dumps(envelope).encode()
                )
                ids.append(event.staging_id.id)
            env["ap.invoice.staging"].browse(ids)._process()
            Staging_ids += ids
            cr.commit()
        print(f"  staged and processed {min(start + BATCH, missing)}/{missing}", flush=True)
    with registry.cursor() as cr:
        # Ages spread over 60 days, a third assigned: a queue as it looks after a busy quarter.
        cr.execute(
            """UPDATE ap_sync_exception SET create_date = now() at time zone 'utc' - (id %% 60) * interval '1 day',
                      user_id = CASE WHEN id %% 3 = 0 THEN %s ELSE user_id END
                WHERE staging_id = ANY(%s)""",
            [user_id, Staging_ids],
        )
    return missing, user_id


def _columns(cr, table):
    cr.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name != 'id'",
        [table],
    )
    return [row[0] for row in cr.fetchall()]


def _copy_rows(cr, table, source_sql, overrides, params):
    """INSERT INTO table SELECT every column of the rows of ``source_sql`` (aliased t), with overrides."""
    columns = _columns(cr, table)
    exprs = [overrides.get(column, f"t.{column}") for column in columns]
    cr.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} {source_sql}",
        params or None,
    )
    return cr.rowcount


def clone(registry, count, user_id):
    """Copy real open exceptions (with their staging record and activity) at the SQL level up to ``count``."""
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        missing = count - env["ap.sync.exception"].search_count([("state", "in", OPEN)])
        if missing <= 0:
            return 0
        cr.execute(
            """SELECT e.id, e.staging_id FROM ap_sync_exception e
                WHERE e.state = 'open' AND e.staging_id IS NOT NULL ORDER BY e.id LIMIT 500"""
        )
        templates = cr.fetchall()
        if not templates:
            raise SystemExit("no real exception to copy: run with --real > 0 first")
        tag = str(int(time.time()))[-6:]
        staging_model = env["ir.model"]._get_id("ap.sync.exception")
        for start in range(0, missing, 5000):
            size = min(5000, missing - start)
            # Staging records: template picked round-robin, new document id, name and age.
            cr.execute("DROP TABLE IF EXISTS bench_clone")
            cr.execute(
                """CREATE TEMP TABLE bench_clone AS
                   SELECT g AS n, (%s::int[])[1 + (g %% %s)] AS template_staging,
                          (%s::int[])[1 + (g %% %s)] AS template_exception
                     FROM generate_series(%s, %s) g""",
                [[t[1] for t in templates], len(templates), [t[0] for t in templates], len(templates),
                 start, start + size - 1],
            )  # fmt: skip
            age = "now() at time zone 'utc' - (c.n % 60) * interval '1 day' - (c.n % 1440) * interval '1 minute'"
            inserted = [
                _copy_rows(cr, "ap_invoice_staging",
                           "FROM bench_clone c JOIN ap_invoice_staging t ON t.id = c.template_staging",
                           {"document_id": f"'bench_clone_{tag}_' || c.n", "name": f"'BCL/{tag}/' || c.n",
                            "number": f"'BCL-{tag}-' || c.n", "create_date": age, "write_date": age,
                            "document_sha256": "md5(c.n::text)", "priority": "(c.n % 7) * 10"},
                           []),
                _copy_rows(cr, "ap_sync_exception",
                           f"""FROM bench_clone c JOIN ap_sync_exception t ON t.id = c.template_exception
                               JOIN ap_invoice_staging s ON s.document_id = 'bench_clone_{tag}_' || c.n""",
                           {"staging_id": "s.id", "create_date": "s.create_date", "write_date": "s.create_date",
                            "last_seen": "s.create_date", "name": "t.name || ' ' || c.n",
                            "user_id": f"CASE WHEN c.n % 3 = 0 THEN {int(user_id)} ELSE t.user_id END"},
                           []),
                _copy_rows(cr, "mail_activity",
                           f"""FROM ap_sync_exception e
                               JOIN ap_invoice_staging s ON s.id = e.staging_id
                                AND s.document_id LIKE 'bench_clone_{tag}_%%'
                               JOIN LATERAL (SELECT * FROM mail_activity a
                                              WHERE a.res_model_id = %s AND a.res_id = (
                                                  SELECT id FROM ap_sync_exception WHERE state = 'open'
                                                     AND staging_id IS NOT NULL ORDER BY id LIMIT 1)
                                              LIMIT 1) t ON TRUE
                              WHERE e.id > (SELECT max(id) - %s FROM ap_sync_exception)""",
                           {"res_id": "e.id", "summary": "e.name", "create_date": "e.create_date",
                            "write_date": "e.create_date", "date_deadline": "e.create_date::date"},
                           [staging_model, size]),
            ]  # fmt: skip
            if inserted != [size, size, size]:
                raise SystemExit(f"copy failed: {inserted} rows for {size} (staging, exception, activity)")
            # Beside them, one posted invoice per five (no exception), with its cycle times: a quarter of
            # activity for the metric charts.
            _copy_rows(cr, "ap_invoice_staging",
                       "FROM bench_clone c JOIN ap_invoice_staging t ON t.id = c.template_staging WHERE c.n % 5 = 0",
                       {"document_id": f"'bench_posted_{tag}_' || c.n", "name": f"'BPO/{tag}/' || c.n",
                        "number": f"'BPO-{tag}-' || c.n", "create_date": age, "write_date": age,
                        "document_sha256": "md5('p' || c.n::text)", "state": "'posted'",
                        "exception_type": "NULL", "exception_reason": "NULL", "processing_step": "'create_bill'",
                        "bill_created_at": f"{age} + (c.n % 90) * interval '1 minute'",
                        "posted_at": f"{age} + (c.n % 48) * interval '1 hour'",
                        "cycle_received_to_bill": "(c.n % 90) / 60.0", "cycle_bill_to_posted": "c.n % 48",
                        "cycle_approved_to_posted": "c.n % 48 + 0.5", "posting_delay_days": "c.n % 9",
                        "match_exception_pct": "CASE WHEN c.n % 4 = 0 THEN 100 ELSE 0 END"},
                       [])  # fmt: skip
            cr.commit()
            print(f"  copied {start + size}/{missing}", flush=True)
    return missing


def vacuum(database):
    """VACUUM ANALYZE the bulk-loaded tables, as autovacuum does after a large load (visibility map set,
    so that index-only scans apply, and fresh statistics)."""
    import psycopg2

    from odoo.sql_db import connection_info_for

    _name, info = connection_info_for(database)
    cnx = psycopg2.connect(**info)
    cnx.autocommit = True
    with cnx.cursor() as cr:
        cr.execute("VACUUM ANALYZE ap_invoice_staging, ap_sync_exception, mail_activity")
    cnx.close()


def ensure_known_vendor(registry):
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        if not env["res.partner"].search([("vat", "=", "NL000099998B77")]):
            env["res.partner"].create(
                {"name": "Bench Known Vendor", "vat": "NL000099998B77", "is_company": True}
            )


def list_specification(env, model, view_type="list"):
    """The fields the web client asks for: every field of the view, many2one with display_name."""
    from lxml import etree

    views = env[model].get_views([(False, view_type)])
    arch = etree.fromstring(views["views"][view_type]["arch"])
    spec = {}
    for node in arch.iter("field"):
        name = node.get("name")
        field = env[model]._fields[name]
        if field.type in ("many2one", "many2many", "one2many"):
            spec[name] = {"fields": {"display_name": {}}}
        else:
            spec[name] = {}
    return spec


def timed(registry, user_id, call, runs):
    from odoo import api

    durations = []
    for _ in range(runs):
        with registry.cursor() as cr:
            env = api.Environment(cr, user_id, {"lang": "en_US", "tz": "UTC"})
            started = time.perf_counter()
            result = call(env)
            durations.append(time.perf_counter() - started)
    return durations, result


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=50000)
    parser.add_argument(
        "--real", type=int, default=2000, help="exceptions opened the real way (the rest are copied)"
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database", default="ap_sync_bench")
    parser.add_argument("--config", default=str(ROOT / "odoo.conf"))
    args = parser.parse_args()
    prepare_database(args.config, args.database)
    from odoo.modules.registry import Registry

    registry = Registry(args.database)
    ensure_known_vendor(registry)
    added, user_id = fill(registry, min(args.real, args.count))
    added += clone(registry, args.count, user_id)
    vacuum(args.database)

    domain = [("state", "in", OPEN)]

    def queue_grouped(env):
        return env["ap.sync.exception"].web_read_group(
            domain, ["exception_type"], ["exception_type"], limit=80, orderby="exception_type", lazy=True
        )

    def queue_list(env):
        spec = list_specification(env, "ap.sync.exception")
        return env["ap.sync.exception"].web_search_read(domain, spec, limit=80, count_limit=10001)

    def overview(env):
        return env["ap.sync.dashboard"].get_dashboard_data()

    def overview_90(env):
        return env["ap.sync.dashboard"].with_context(ap_sync_period_days=90).get_dashboard_data()

    def baseline(env):
        # Plain Odoo: the activities list, as many records (one activity per exception), same page size.
        spec = list_specification(env, "mail.activity")
        return env["mail.activity"].web_search_read([], spec, limit=80, count_limit=10001)

    rows = []
    results = {}
    for name, call in (("queue (grouped)", queue_grouped), ("queue (list)", queue_list),
                       ("overview", overview), ("overview 90 d", overview_90),
                       ("baseline", baseline)):  # fmt: skip
        durations, result = timed(registry, user_id, call, args.runs)
        results[name] = result
        rows.append((name, statistics.median(durations), max(durations)))

    with registry.cursor() as cr:
        cr.execute("SELECT count(*) FROM ap_sync_exception WHERE state IN %s", [OPEN])
        open_count = cr.fetchone()[0]
    print()
    print(f"exception queue benchmark: {open_count} open exceptions ({added} added this run), "
          f"as an AP Sync user, {args.runs} runs each")  # fmt: skip
    print(f"{'call':18}{'median s':>10}{'max s':>9}  result")
    for name, median, slowest in rows:
        result = results[name]
        if name == "queue (grouped)":
            detail = f"{result['length']} groups, {sum(g['exception_type_count'] for g in result['groups'])} records"
        elif name.startswith("overview"):
            metrics = result["operations"]["metrics"]
            detail = (f"{len(result['platforms'])} platforms, {len(result['operations']['policies'])} policies, "
                      f"{len(metrics['throughput'])} days, {len(metrics['by_vendor'])} vendors")  # fmt: skip
        else:
            detail = f"{len(result['records'])} rows of {result['length']}"
        target = (
            ""
            if name.startswith("baseline")
            else (f"  OK (< {TARGET} s)" if slowest < TARGET else f"  OVER {TARGET} s")
        )
        print(f"{name:18}{median:>10.3f}{slowest:>9.3f}  {detail}{target}")


if __name__ == "__main__":
    main()
