"""The retry decision of an HTTP answer: which statuses are worth another try, and when."""

import time
from email.utils import parsedate_to_datetime

# Statuses after which the same call may succeed later (the others will fail again as they are).
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def parse_retry_after(value):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0, int(when.timestamp() - time.time()))
