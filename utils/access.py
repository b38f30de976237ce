"""The one check of the AP Sync manager role, for the actions only a manager may take."""

from odoo.exceptions import AccessError

MANAGER_GROUP = "account_ap_sync.group_ap_sync_manager"


def check_manager(env, message=None):
    """Raise :class:`AccessError` unless the current user is an AP Sync manager.

    ``message`` is the translated sentence that names the action (``env._("Only an AP Sync manager
    may ...")``); without it, a general one."""
    if not env.user.has_group(MANAGER_GROUP):
        raise AccessError(message or env._("Only an AP Sync manager may do this."))
