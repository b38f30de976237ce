"""Redaction of secrets from anything that is logged or stored as a log attachment."""

import re

REDACTED = "***"
SECRET_KEYS = re.compile(
    r"(authorization|api[_-]?key|secret|password|passwd|token|signature|credential)", re.IGNORECASE
)
BULKY_KEYS = {"content_base64"}


def redact(value):
    """Return a copy of a JSON-like value with secret-looking keys masked and file contents removed."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if isinstance(key, str) and SECRET_KEYS.search(key):
                result[key] = REDACTED
            elif key in BULKY_KEYS and isinstance(item, str):
                result[key] = f"[{len(item)} base64 characters removed]"
            else:
                result[key] = redact(item)
        return result
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def scrub_text(text, secrets):
    """Replace every occurrence of the given clear secrets in ``text`` (error messages from peers)."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text
