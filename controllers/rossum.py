"""Rossum's asynchronous hook framework: the URL Rossum polls for the result of an export hook.

The export hook is answered 202 with a ``Location`` (see ``ap.platform._rossum_export_result``);
Rossum polls it until it answers 200 with ``{"messages": [...]}``: an info message once Odoo has the
bill (Rossum then shows the annotation as exported), an error message with the reason when the
document stopped at an exception (the annotation goes to failed export and its user sees why).
"""

import hmac

from odoo import SUPERUSER_ID, api, http
from odoo.http import request


class ApSyncRossumController(http.Controller):
    @http.route(
        "/ap_sync/webhook/<string:platform_code>/rossum-result/<string:message_id>",
        type="http",
        auth="none",
        methods=["GET", "POST"],
        csrf=False,
        save_session=False,
        readonly=True,
    )
    def ap_sync_rossum_result(self, platform_code, message_id, token=None, **_kwargs):
        env = api.Environment(request.env.cr, SUPERUSER_ID, {"lang": "en_US"})
        platform = env["ap.platform"].search(
            [("code", "=", platform_code), ("provider", "=", "rossum")], limit=1
        )
        if not platform:
            return request.make_json_response({"error": "unknown_platform"}, status=404)
        expected = platform._rossum_poll_token(message_id)
        if not token or not hmac.compare_digest(str(token), expected):
            return request.make_json_response({"error": "invalid_token"}, status=401)
        event = env["ap.sync.event"]._find_duplicate(platform, message_id)
        if not event:
            return request.make_json_response({"error": "unknown_event"}, status=404)
        status, body, headers = platform._rossum_export_result(
            event, request.httprequest.host_url.rstrip("/")
        )
        return request.make_json_response(body, status=status, headers=list(headers.items()) or None)
