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
        """The group ``_claim`` gives, less the messages held back. A group that was all held is claimed
        again: the held messages are no longer due, so the run goes on with the other platforms'
        (a backlog of an archived platform's messages at the head of the queue would otherwise end
        every run without a delivery)."""
        while True:
            messages = super()._claim(*args, **kwargs)
            held = messages._hold_blocked()
            if not held or messages - held:
                return messages - held

    def _hold_blocked(self):
        """Hold the messages of platforms that must not be called now; returns those of ``self``.

        All the due messages of such a platform are held at once, not only the claimed ones, so that a
        backlog is set aside in one statement (those another worker has locked are its to hold)."""
        blocked = {}
        for platform in self.platform_id:
            reason = platform._get_outbound_block()
            if reason:
                blocked[platform.id] = reason
        if not blocked:
            return self.browse()
        later = fields.Datetime.now() + HOLD_FOR
        for platform_id, reason in blocked.items():
            self.env.cr.execute(
                """SELECT id FROM ap_sync_outbox
                    WHERE platform_id = %s AND state = 'pending'
                      AND (next_attempt_at IS NULL OR next_attempt_at <= now() at time zone 'utc')
                    FOR UPDATE SKIP LOCKED""",
                [platform_id],
            )
            due = self.browse([row[0] for row in self.env.cr.fetchall()])
            (due | self.filtered(lambda m, p=platform_id: m.platform_id.id == p)).sudo().write(
                {"held": True, "next_attempt_at": later, "last_error": reason}
            )
        return self.filtered(lambda m: m.platform_id.id in blocked)
