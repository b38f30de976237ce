"""Outbox side of the environment guard: a message for a platform that must not be called is held
(no attempt counted, no dead letter) until the platform may be called again."""

from datetime import timedelta

from odoo import fields, models

from .ap_sync_outbox import PROTECTED_FIELDS

HOLD_FOR = timedelta(hours=1)
PROTECTED_FIELDS.add("held")  # set by the module only, like the other delivery fields


class ApSyncOutbox(models.Model):
    _inherit = "ap.sync.outbox"

    held = fields.Boolean(
        readonly=True,
        help="Held back: the platform must not be called now (neutralized, shadow mode, other installation).",
    )

    def _claim(self, *args, **kwargs):
        messages = super()._claim(*args, **kwargs)
        blocked = {}
        for platform in messages.platform_id:
            reason = platform._get_outbound_block()
            if reason:
                blocked[platform.id] = reason
        if not blocked:
            return messages
        held = messages.filtered(lambda m: m.platform_id.id in blocked)
        later = fields.Datetime.now() + HOLD_FOR
        for platform_id, reason in blocked.items():
            held.filtered(lambda m, p=platform_id: m.platform_id.id == p).sudo().write(
                {"held": True, "next_attempt_at": later, "last_error": reason}
            )
        return messages - held
