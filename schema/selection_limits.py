"""Documents that would take far longer to validate than to write, refused before validation.

Validation costs time for every selection once fragments are spread in, and graphql-core's
OverlappingFieldsCanBeMergedRule compares every pair of fields that answer the same place in
the response, so both are counted on the parsed document in one iterative pass, each fragment
worked out once. Strawberry's depth rule walks every fragment spread from each operation,
recursively and before any other rule runs, so what it cannot walk safely is refused here too:
fragment cycles, spreads of unknown fragments, two fragments of one name and empty selection
sets, all of which validation would refuse anyway.
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from schema.document_limits import refuse

# Measured on this 2-core machine, shared (best of 9 runs of strawberry's validation with our
# rules): `{ tiers { key } }` validates in 0.9 ms and every further selection adds 60-80 us,
# so the member dashboard of tests/api/test_query_complexity.py (120 selections) takes 8 ms.
# The worst documents these caps let through, among ten shapes built to cost the most (150
# selections as 8 copies of one subtree, as 8 inline fragments, as 8 fragments, under 8
# repeated parents, as 8 conflicting aliases or arguments...), take 12 ms (up to 20 ms when
# the machine is busy): what any 150 selections cost, since no place in the response may be
# answered more than 8 times. Without the caps, `{ tiers { key } }` 700 times takes 1,430 ms.
# Validation is linear in selections below the caps. The cap is 500, not less, because the
# introspection query that GraphiQL and every code generator send counts between 300 and 500
# here (its fragments counted at every spread) and validates in 11 ms; the worst documents of
# 500 selections measured (8 copies of a 55-selection member dashboard, inline or as repeated
# parents) validate in 28-30 ms, and are cached like any other document after that.
MAX_SELECTIONS = 500
MAX_REPEATS = 8


class _Answered:
    """One place in the response: how many fields answer it, and what they select below it,
    merged by response name (aliases included) as the response merges them."""

    __slots__ = ("below", "fields")

    def __init__(self) -> None:
        self.fields = 0
        self.below: dict[str, _Answered] = {}


_Shape = dict[str, _Answered]


class _Tally:
    """Selections counted across the whole document, refused past MAX_SELECTIONS."""

    def __init__(self) -> None:
        self.selections = 0

    def add(self, selections: int) -> None:
        self.selections += selections
        if self.selections > MAX_SELECTIONS:
            raise refuse(
                f"The document makes more than {MAX_SELECTIONS} selections (fields, fragment "
                "spreads and inline fragments; a fragment counts where it is defined and again "
                "wherever it is spread).",
                "QUERY_TOO_COMPLEX",
            )


def _answer(into: _Shape, name: str, fields: int) -> _Answered:
    answered = into.get(name)
    if answered is None:
        answered = into[name] = _Answered()
    answered.fields += fields
    if answered.fields > MAX_REPEATS:
        raise refuse(
            f"The document selects '{name[:100]}' more than {MAX_REPEATS} times in one place "
            "(counting repeated parent fields and fragments).",
            "QUERY_TOO_COMPLEX",
        )
    return answered


def _spread_names(selection_set: SelectionSetNode) -> list[str]:
    names = []
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.append(selection.name.value)
            elif isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set:
                pending.append(selection.selection_set)
    return names


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragments by name; refuses two of one name, and spreads of none."""
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            name = definition.name.value
            if name in fragments:
                raise refuse(
                    f"There can be only one fragment named '{name[:100]}'.",
                    "GRAPHQL_VALIDATION_FAILED",
                )
            fragments[name] = definition
    for definition in document.definitions:
        if isinstance(definition, (OperationDefinitionNode, FragmentDefinitionNode)):
            for name in _spread_names(definition.selection_set):
                if name not in fragments:
                    raise refuse(f"Unknown fragment '{name[:100]}'.", "GRAPHQL_VALIDATION_FAILED")
    return fragments


def _in_dependency_order(
    fragments: dict[str, FragmentDefinitionNode],
) -> list[FragmentDefinitionNode]:
    """Every fragment after the fragments it spreads; refuses cycles."""
    order: list[FragmentDefinitionNode] = []
    done: dict[str, bool] = {}  # False while its spreads are being followed
    for root in fragments:
        if root in done:
            continue
        done[root] = False
        path = [(root, iter(_spread_names(fragments[root].selection_set)))]
        while path:
            name, spreads = path[-1]
            for spread in spreads:
                if done.get(spread) is False:
                    steps = [step for step, _ in path]
                    through = ", ".join(
                        f"'{step[:100]}'" for step in steps[steps.index(spread) + 1 :][:10]
                    )
                    raise refuse(
                        f"Fragment '{spread[:100]}' spreads itself"
                        + (f" through {through}." if through else "."),
                        "GRAPHQL_VALIDATION_FAILED",
                    )
                if spread not in done:
                    done[spread] = False
                    path.append((spread, iter(_spread_names(fragments[spread].selection_set))))
                    break
            else:
                path.pop()
                done[name] = True
                order.append(fragments[name])
    return order


def _merge(shape: _Shape, into: _Shape) -> None:
    pending = [(shape, into)]
    while pending:
        source, target = pending.pop()
        for name, answered in source.items():
            merged = _answer(target, name, answered.fields)
            if answered.below:
                pending.append((answered.below, merged.below))


def _shape(
    selection_set: SelectionSetNode, fragments: dict[str, tuple[_Shape, int]], tally: _Tally
) -> tuple[_Shape, int]:
    """What a definition answers, with the fragments it spreads merged in, and how many
    selections that makes."""
    shape: _Shape = {}
    selections = 0
    pending = [(selection_set, shape)]
    while pending:
        current, into = pending.pop()
        if not current.selections:
            raise refuse("A selection set must select something.", "GRAPHQL_VALIDATION_FAILED")
        for selection in current.selections:
            tally.add(1)
            selections += 1
            if isinstance(selection, FieldNode):
                answered = _answer(into, (selection.alias or selection.name).value, 1)
                if selection.selection_set is not None:
                    pending.append((selection.selection_set, answered.below))
            elif isinstance(selection, InlineFragmentNode):
                pending.append((selection.selection_set, into))
            elif isinstance(selection, FragmentSpreadNode):
                spread, spread_selections = fragments[selection.name.value]
                # Counted before merging, so that merging never costs more than the cap.
                tally.add(spread_selections)
                selections += spread_selections
                _merge(spread, into)
    return shape, selections


def check_selections(document: DocumentNode) -> GraphQLError | None:
    """QUERY_TOO_COMPLEX for a document of more than MAX_SELECTIONS selections with its
    fragments spread in, or answering one place in the response with more than MAX_REPEATS
    fields; GRAPHQL_VALIDATION_FAILED for what the depth rule cannot walk."""
    try:
        tally = _Tally()
        fragments: dict[str, tuple[_Shape, int]] = {}
        for fragment in _in_dependency_order(_fragments(document)):
            fragments[fragment.name.value] = _shape(fragment.selection_set, fragments, tally)
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                _shape(definition.selection_set, fragments, tally)
    except GraphQLError as refused:
        return refused.with_traceback(None)
    return None
