"""The input guard: what any door (a provider's webhook, a pulled page, an import) checks before it
trusts a JSON body (contract section 1.4, "Input rules").

- Nesting deeper than :data:`MAX_DEPTH` levels is refused *before* ``json.loads`` runs (Python's
  parser recurses and would raise ``RecursionError`` around a thousand levels): 400 ``invalid_json``,
  ``"nesting too deep"``.
- A string, or a member name, containing NUL (U+0000) or a lone surrogate (U+D800..U+DFFF) cannot be
  stored by PostgreSQL nor encoded as UTF-8: 422 ``schema_violation`` with the JSON pointer of the
  offending value.

Both checks are iterative: no input makes them recurse. Any provider's parse step calls
:func:`load_json`; code holding an already parsed value calls :func:`check_value`.
"""

import json
import re
from array import array
from itertools import accumulate

from ..exceptions import IntakeError

MAX_DEPTH = 64  # levels of arrays / objects, the top-level value being level 1
BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
# A JSON string literal (unrolled loop: linear time, no backtracking).
_STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
_SIGNED_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_OPENER_RUN = {MAX_DEPTH: re.compile(b"\x01{%d}" % (MAX_DEPTH + 1))}


def _pointer(parts):
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def describe(value):
    """What is wrong with a string, in words (never the string itself): None when it is fine."""
    match = BAD_CHARS.search(value)
    if not match:
        return None
    char = match.group()
    if char == "\x00":
        return "contains a NUL character (U+0000), which cannot be stored"
    return f"contains a lone surrogate (U+{ord(char):04X}), which is not valid Unicode"


def clean_text(value):
    """``value`` with NUL and lone surrogates replaced by U+FFFD: safe for a log line or a text column."""
    if isinstance(value, str) and BAD_CHARS.search(value):
        return BAD_CHARS.sub("\ufffd", value)
    return value


def clean(value):
    """A copy of a small JSON-like answer with every string (and member name) made safe."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(key): clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    return value


def _brackets(text):
    """The brackets of a JSON text outside its strings, as bytes (+1 opening, -1 closing: signed)."""
    # bytes.translate keeps the brackets at C speed (a UTF-8 multi-byte character holds no ASCII byte).
    kept = (
        _STRING_LITERAL.sub("", text).encode("utf-8", "surrogatepass").translate(_SIGNED_STEP, _NOT_BRACKET)
    )
    return array("b", kept)


def text_depth(text):
    """The deepest nesting of arrays and objects in a JSON text, strings ignored (linear, C speed)."""
    steps = _brackets(text)
    return max(0, max(accumulate(steps), default=0))


def too_deep(text, max_depth=MAX_DEPTH):
    """Whether a JSON text nests arrays and objects deeper than ``max_depth`` (strings ignored)."""
    steps = _brackets(text)
    # A run of openers answers at once (the usual attack); else the running sum is the depth.
    if _OPENER_RUN.get(max_depth, re.compile(b"\x01{%d}" % (max_depth + 1))).search(steps.tobytes()):
        return True
    return max(accumulate(steps), default=0) > max_depth


def decode(raw):
    """The text of a JSON body received as bytes, decoded like ``json.loads`` does (UTF-8/16/32)."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode(json.detect_encoding(raw), "surrogatepass")
    except (UnicodeDecodeError, LookupError) as exc:
        raise IntakeError(400, {"error": "invalid_json", "detail": "the body is not valid UTF-8"}) from exc


def invalid_json(detail):
    return IntakeError(400, {"error": "invalid_json", "detail": detail})


def load_json(text, max_depth=MAX_DEPTH, check_strings=True, parse_float=None):
    """Parse a JSON body under the input rules; raise :class:`IntakeError` (400 or 422) otherwise.

    ``text`` is a str (bytes are decoded as ``json.loads`` would). ``check_strings=False`` leaves the
    string check to the caller (a pulled page checks each of its documents on its own).
    ``parse_float``: as for ``json.loads`` (``decimal.Decimal`` for a provider whose amounts are JSON
    numbers, so that they are read exactly).
    """
    text = decode(text)
    if too_deep(text, max_depth):
        raise invalid_json(f"nesting too deep: more than {max_depth} levels of arrays and objects")
    try:
        value = json.loads(text, parse_float=parse_float)
    except RecursionError as exc:  # pragma: no cover - the depth check above keeps it out of reach
        raise invalid_json("nesting too deep") from exc
    except ValueError as exc:
        raise invalid_json(clean_text(str(exc))[:200]) from exc
    if check_strings:
        check_value(value, max_depth=max_depth)
    return value


def find_problem(value, max_depth=MAX_DEPTH):
    """The first problem of a parsed value: ``("depth" | "string", pointer, message)``, or None.

    Iterative (an explicit stack), so a value of any depth is examined without recursion.
    """
    stack = [(value, (), 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = describe(item)
            if problem:
                return "string", _pointer(path), f"this string {problem}"
            continue
        if isinstance(item, dict | list):
            if depth > max_depth:
                return "depth", _pointer(path), f"nesting too deep: more than {max_depth} levels"
            if isinstance(item, dict):
                children = []
                for key, child in item.items():
                    problem = describe(key) if isinstance(key, str) else None
                    if problem:
                        return "string", _pointer(path), f"a member name {problem}"
                    children.append((child, (*path, key), depth + 1))
            else:
                children = [(child, (*path, index), depth + 1) for index, child in enumerate(item)]
            stack.extend(reversed(children))  # document order
    return None


def check_value(value, max_depth=MAX_DEPTH, base=""):
    """Raise :class:`IntakeError` when a parsed value breaks the input rules (``base``: pointer prefix)."""
    problem = find_problem(value, max_depth)
    if not problem:
        return value
    kind, pointer, message = problem
    if kind == "depth":
        raise invalid_json(message)
    raise IntakeError(
        422, {"error": "schema_violation", "errors": [{"path": base + pointer, "message": message}]}
    )
