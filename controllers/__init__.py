from . import rossum, runbooks, webhook
