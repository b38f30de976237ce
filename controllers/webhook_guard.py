"""Environment guard at the webhook: a neutralized platform answers 503 and stores nothing."""

from odoo.http import request

from ..exceptions import IntakeError
from .webhook import ApSyncWebhookController

NEUTRALIZED_KEY = "ap_sync_neutralized"


class ApSyncWebhookGuard(ApSyncWebhookController):
    def _get_platform(self, env, code):
        platform = super()._get_platform(env, code)
        if platform.neutralized or (
            platform.environment == "production" and platform._is_database_neutralized()
        ):
            # Refused before the body is read: no event, no payload, no sync-log entry.
            request.httprequest.environ[NEUTRALIZED_KEY] = True
            raise IntakeError(503, {"error": "neutralized"})
        return platform

    def _log_request(self, env, platform_code, httprequest, status, body, context, started):
        if httprequest.environ.get(NEUTRALIZED_KEY):
            return None
        return super()._log_request(env, platform_code, httprequest, status, body, context, started)
