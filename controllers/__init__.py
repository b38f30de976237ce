from . import rossum, runbooks, webhook, webhook_guard
