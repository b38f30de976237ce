from . import runbooks, webhook
