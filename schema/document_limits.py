"""Documents that would cost the server far more than they cost the caller, refused cheaply.

The parser descends recursively, one set of frames per bracket, brace or parenthesis, so
nesting is counted on the tokens before it runs: one iterative pass that stops at the first
level too deep, or where the parser would stop anyway (a syntax error, the token limit).
"""

from __future__ import annotations

from graphql import GraphQLError, GraphQLSyntaxError, Source, TokenKind
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
