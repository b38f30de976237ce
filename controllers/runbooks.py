"""docs/runbooks.md, served to signed-in users (the Overview links to it)."""

from pathlib import Path

from odoo import http
from odoo.http import request

RUNBOOKS = Path(__file__).resolve().parents[1] / "docs" / "runbooks.md"


class ApSyncRunbooks(http.Controller):
    @http.route("/ap_sync/runbooks", type="http", auth="user", methods=["GET"])
    def runbooks(self):
        if not request.env.user.has_group("account_ap_sync.group_ap_sync_user"):
            return request.not_found()
        return request.make_response(
            RUNBOOKS.read_bytes(),
            headers=[("Content-Type", "text/markdown; charset=utf-8"), ("Content-Disposition", "inline")],
        )
