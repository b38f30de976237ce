"""URL paths of platform calls built from record names and ids."""

from urllib.parse import quote


def segment(value):
    """``value`` as one URL path segment: every reserved character is quoted, so that a purchase
    order named ``PO/2024/0001`` stays one segment (``PO%2F2024%2F0001``) and a ``?`` or ``#`` in a
    vendor id never starts a query or a fragment."""
    return quote(str(value), safe="")
