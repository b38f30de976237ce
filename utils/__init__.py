from . import crypto, redact
