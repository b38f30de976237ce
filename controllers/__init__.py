from . import runbooks, webhook, webhook_guard
