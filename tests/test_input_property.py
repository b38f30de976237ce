"""Property-based tests of the webhook door (issue 17), with hypothesis.

Generated envelopes (arbitrary Unicode with control characters, NUL and lone surrogates, numbers of
any size, deep nesting, missing and extra fields, truncated texts), correctly signed and posted to the
real webhook over HTTP. The invariant:

- never a 5xx, always a JSON answer;
- a record (inbound event) is stored if and only if the answer is 2xx;
- every stored record ends in a state a person can see: after processing, its staging record is in a
  known state, and one stopped in ``exception`` has an open exception in the queue.

Bounded and seeded (``derandomize=True``): the same examples run every time, a few hundred in all.
"""

import json
import logging
import re
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo.tests import HttpCase, tagged

from ..models.ap_invoice_staging import STATES
from .common import ApSyncCase, make_invoice
from .test_input_guard import ENVELOPE_HEAD, WebhookPoster

_logger = logging.getLogger(__name__)

HOSTILE_STRINGS = ["\x00", "\ud800", "\udfff", "a\x00b", "\u202e", "\ufeff", "\x1f\x7f", "\U0001f600", "",
                   " ", "[[[[", '"}', "\\", "NaN", "1e999999", "<b>", "'; --", "\u0000\ud83d"]  # fmt: skip
NUMBER = "\x01NUMBER:"  # placeholder: a number literal written into the JSON text as it is
NUMBER_LITERAL = re.compile(r'"\\u0001NUMBER:([^"]*)"')

any_char = st.characters(exclude_categories=())  # every code point, lone surrogates included
texts = st.one_of(st.text(any_char, max_size=30), st.sampled_from(HOSTILE_STRINGS))
huge_numbers = st.builds(
    lambda digits,
    fraction,
    exponent: f"{NUMBER}{'-' if digits % 2 else ''}{'9' * digits}{fraction}{exponent}",
    st.integers(1, 6000),
    st.sampled_from(["", ".5", ".0000000000000000000001"]),
    st.sampled_from(["", "e999999", "E-400", "e+30"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    huge_numbers,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
decimal_strings = st.from_regex(r"-?[0-9]{1,40}(\.[0-9]{1,12})?", fullmatch=True)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 10_000), json_values),
        st.tuples(st.just("set"), st.integers(0, 10_000), decimal_strings),
        st.tuples(st.just("delete"), st.integers(0, 10_000), st.none()),
        st.tuples(st.just("extra"), st.integers(0, 10_000), st.tuples(texts, json_values)),
        st.tuples(st.just("nest"), st.integers(0, 10_000), st.integers(1, 300)),
    ),
    max_size=4,
)
envelope_changes = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(
            st.sampled_from(["invoice.approved", "invoice.voided", "ping", "vendor.updated"]), texts
        ),
        "timestamp": json_values,
        "extra": json_values,
        "drop_data": st.booleans(),
    },
)


def _paths(value, path=()):
    """Every path of a JSON value, the value itself first."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _apply(document, operation):
    kind, where, argument = operation
    paths = _paths(document)
    path = paths[where % len(paths)]
    if not path and kind in ("set", "delete", "nest"):
        return document  # the document itself stays an object (the envelope's data is changed elsewhere)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    target = parent[path[-1]] if path else document
    if kind == "set":
        parent[path[-1]] = argument
    elif kind == "delete":
        del parent[path[-1]]
    elif kind == "extra" and isinstance(target, dict):
        target[argument[0]] = argument[1]
    elif kind == "nest":
        nested = target
        for level in range(argument):
            nested = [nested] if level % 2 else {"n": nested}
        parent[path[-1]] = nested
    return document


def _dumps(value):
    text = json.dumps(value, separators=(",", ":"), allow_nan=True)
    # Number placeholders (JSON-escaped by dumps) become bare number literals of any size.
    return NUMBER_LITERAL.sub(lambda match: match.group(1), text)


@tagged("post_install", "-at_install")
class TestWebhookProperties(ApSyncCase, HttpCase, WebhookPoster):
    counts = Counter()  # answer classes seen, for the report (logged at the end)
    cases = 0

    @classmethod
    def tearDownClass(cls):
        _logger.info(
            "AP Sync property tests: %d generated cases; %d distinct answers: %s",
            cls.cases,
            len(cls.counts),
            dict(sorted(cls.counts.items())),
        )
        super().tearDownClass()

    def check_invariant(self, body):
        before = self.env["ap.sync.event"].search_count([])
        status, answer, webhook_id = self.post_signed(body)
        type(self).cases += 1
        self.assertLess(status, 500, answer)
        self.assertIsInstance(answer, dict)
        self.counts[self.answer_class(status, answer)] += 1
        events = self.env["ap.sync.event"].search([("webhook_id", "=", webhook_id)])
        is_2xx = 200 <= status < 300
        pinged = is_2xx and answer.get("status") == "ok"
        self.assertEqual(bool(events), is_2xx and not pinged, f"stored iff 2xx: {status} {answer}")
        if not is_2xx:
            self.assertIn("error", answer)
            self.assertEqual(self.env["ap.sync.event"].search_count([]), before, "nothing stored")
            return
        if events:
            self.assertIn(events.state, dict(events._fields["state"].selection), answer)
            staging = events.staging_id
            if staging:
                staging._process()
                self.assertIn(staging.state, dict(STATES))
                if staging.state == "exception":
                    self.assertTrue(
                        self.env["ap.sync.exception"].search_count(
                            [("staging_id", "=", staging.id), ("state", "in", ("open", "in_progress"))]
                        ),
                        f"{staging.name} stopped without an open exception: {staging.exception_reason}",
                    )

    @staticmethod
    def answer_class(status, answer):
        error = answer.get("error") or answer.get("status")
        if status == 400 and "nesting too deep" in str(answer.get("detail")):
            return "400 invalid_json: nesting too deep"
        if status == 422:
            messages = " ".join(e.get("message", "") for e in answer.get("errors", []))
            for word in ("NUL", "surrogate"):
                if word in messages:
                    return f"422 schema_violation: {word}"
        return f"{status} {error}"

    @settings(
        max_examples=150,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(operations, envelope_changes, st.integers(0, 2**31))
    def test_mutated_invoices(self, ops, changes, seed):
        document = make_invoice(doc_id=f"inv_h{seed}_{self.cases}", number=f"H-{seed}")
        for operation in ops:
            document = _apply(document, operation)
        envelope = {"type": changes.get("type", "invoice.approved"), "timestamp": "2026-11-02T10:15:00Z"}
        if "timestamp" in changes:
            envelope["timestamp"] = changes["timestamp"]
        if not changes.get("drop_data"):
            envelope["data"] = document
        if "extra" in changes:
            envelope["extra"] = changes["extra"]
        self.check_invariant(_dumps(envelope).encode())

    @settings(
        max_examples=100,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(json_values, st.integers(0, 100), st.integers(0, 300), st.sampled_from(["none", "cut", "bytes"]))
    def test_arbitrary_bodies(self, value, cut, depth, noise):
        text = ENVELOPE_HEAD + "[" * depth + _dumps(value) + "]" * depth + "}"
        if noise == "cut":
            text = text[: len(text) * cut // 100]
        body = text.encode("utf-8", "surrogatepass")
        if noise == "bytes":
            body = body[: len(body) * cut // 100] + bytes([cut % 256, 0, 0xFF])
        self.check_invariant(body)
