"""Whatever fragments a document strings together, the pipeline answers it with data or typed
errors: the selection check refuses what the rules behind it could not walk safely."""

from __future__ import annotations

import logging

import pytest
from graphql import parse
from hypothesis import given, settings
from hypothesis import strategies as st

from schema.build import build_schema
from schema.selection_limits import MAX_REPEATS, MAX_SELECTIONS, check_selections

SCHEMA = build_schema(production=False)
NAMES = ["A", "B", "C", "D", "E", "F", "Missing"]  # Missing is never defined


def selection_sets(depth: int = 3) -> st.SearchStrategy[str]:
    """Selections on Query without resolvers: __typename, spreads, inline fragments."""
    leaf = st.sampled_from(["__typename", "t: __typename"]) | st.sampled_from(NAMES).map(
        lambda name: f"...{name}"
    )
    selection = leaf
    if depth > 0:
        selection = leaf | selection_sets(depth - 1).map(lambda inner: f"... on Query {inner}")
    return st.lists(selection, max_size=4).map(lambda items: "{ " + " ".join(items) + " }")


@st.composite
def documents(draw: st.DrawFn) -> str:
    defined = draw(st.lists(st.sampled_from(NAMES[:-1]), max_size=6))
    fragments = [f"fragment {name} on Query {draw(selection_sets())}" for name in defined]
    return " ".join([draw(selection_sets()), *fragments])


@settings(max_examples=300, deadline=None)
@given(documents())
def test_any_fragment_structure_gets_data_or_typed_errors(document: str):
    refused = check_selections(parse(document))
    if refused is not None:
        assert refused.extensions
        assert refused.extensions["code"] in ("QUERY_TOO_COMPLEX", "GRAPHQL_VALIDATION_FAILED")
    result = SCHEMA.execute_sync(document)
    for error in result.errors or []:
        assert error.original_error is None, (document, error)  # no exception behind it
    if refused is not None:
        assert result.errors == [refused]


@pytest.mark.parametrize(
    ("document", "refused"),
    [
        pytest.param("{ __typename }", False, id="one field"),
        pytest.param("{ " + "__typename " * MAX_REPEATS + "}", False, id="repeats at the cap"),
        pytest.param("{ " + "__typename " * (MAX_REPEATS + 1) + "}", True, id="one repeat over"),
        pytest.param(
            "{ a: __typename ...F ...F } fragment F on Query { a: __typename }",
            False,
            id="a spread repeats what it spreads",
        ),
        pytest.param(
            "{ " + "...F " * (MAX_REPEATS + 1) + "} fragment F on Query { __typename }",
            True,
            id="spreads repeat their fields",
        ),
        pytest.param(
            "{ " + " ".join(f"a{i}: __typename" for i in range(MAX_SELECTIONS)) + " }",
            False,
            id="selections at the cap",
        ),
        pytest.param(
            "{ " + " ".join(f"a{i}: __typename" for i in range(MAX_SELECTIONS + 1)) + " }",
            True,
            id="one selection over",
        ),
        pytest.param(
            "{ ...F } fragment F on Query { "
            + " ".join(f"a{i}: __typename" for i in range(MAX_SELECTIONS // 2))
            + " }",
            True,
            id="a fragment counts where it is defined and where it is spread",
        ),
    ],
)
def test_what_the_caps_count(document: str, refused: bool):
    assert (check_selections(parse(document)) is not None) is refused


def test_a_refusal_is_not_logged_as_a_fault(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.ERROR)
    result = SCHEMA.execute_sync(
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    )
    assert result.errors
    assert result.errors[0].message == "Fragment 'A' spreads itself through 'B'."
    assert not caplog.records, caplog.text
