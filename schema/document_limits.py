"""Documents that would cost the server far more than they cost the caller, refused cheaply.

The parser descends recursively, one set of frames per bracket, brace or parenthesis, so
nesting is counted on the tokens before it runs: one iterative pass that stops at the first
level too deep, or where the parser would stop anyway (a syntax error, the token limit).
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    ListValueNode,
    ObjectValueNode,
    Source,
    TokenKind,
    Visitor,
    visit,
)
from graphql.language import Lexer

# Far deeper than any selection the depth limit lets run, or any input this schema takes
# (RecordPurchaseInput's lines are the deepest: 3 levels), and far short of the recursion
# limit, whatever the stack depth the request starts at.
MAX_NESTING = 64

_OPENING = frozenset({TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L})
_CLOSING = frozenset({TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R})


def refuse(
    message: str, code: str, source: Source | None = None, at: int | None = None
) -> GraphQLError:
    return GraphQLError(
        message,
        source=source,
        positions=None if at is None else [at],
        extensions={"code": code},
    )


def check_nesting(query: str, max_tokens: int) -> None:
    """Raises QUERY_TOO_DEEP if brackets, braces and parentheses nest more than MAX_NESTING
    deep within the first `max_tokens` tokens (the parser refuses any more than that)."""
    if sum(query.count(opening) for opening in "{[(") <= MAX_NESTING:
        return  # the usual case, at a fraction of the cost of lexing
    source = Source(query)
    lexer = Lexer(source)
    depth = 0
    try:
        for _ in range(max_tokens):
            token = lexer.advance()
            if token.kind is TokenKind.EOF:
                return
            if token.kind in _OPENING:
                depth += 1
                if depth > MAX_NESTING:
                    raise refuse(
                        f"The document nests brackets, braces and parentheses more than "
                        f"{MAX_NESTING} deep.",
                        "QUERY_TOO_DEEP",
                        source,
                        token.start,
                    )
            elif token.kind in _CLOSING:
                depth -= 1
    except GraphQLSyntaxError:
        # No deeper than counted so far: the parser reaches the same error and reports it.
        return


# No input type of this API has more than a dozen fields, nor a list more than MAX_LINES (500)
# items. Validation prints the whole object into the message of each unknown field's error, so
# one object of 1,600 made-up fields (15 kB of query) took 2.3 s to validate, and answered
# 1.7 MB; refused here, it costs a walk of the document.
MAX_INPUT_FIELDS = 50
MAX_LIST_ITEMS = 1_000


class _InputLiterals(Visitor):
    def enter_object_value(self, node: ObjectValueNode, *_: object) -> None:
        if len(node.fields) > MAX_INPUT_FIELDS:
            _too_big(
                node,
                f"An input object in the document has more than {MAX_INPUT_FIELDS} fields; no "
                "input of this API has that many.",
            )

    def enter_list_value(self, node: ListValueNode, *_: object) -> None:
        if len(node.values) > MAX_LIST_ITEMS:
            _too_big(
                node,
                f"A list in the document has more than {MAX_LIST_ITEMS} items; send long "
                "inputs as variables.",
            )


def _too_big(node: ObjectValueNode | ListValueNode, message: str) -> None:
    source, at = (node.loc.source, node.loc.start) if node.loc else (None, None)
    raise refuse(message, "QUERY_TOO_COMPLEX", source, at)


def check_input_literals(document: DocumentNode) -> GraphQLError | None:
    """QUERY_TOO_COMPLEX for an input object or list written in the document that no input of
    this API could take (graphql-core's visit is iterative: no depth is too deep for it)."""
    try:
        visit(document, _InputLiterals())
    except GraphQLError as refused:
        return refused
    return None
