"""The schema and its request pipeline: caches, limits and the shaping of errors."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache, partial
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    validate,
)
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext
from strawberry.types import ExecutionResult as StrawberryExecutionResult
from strawberry.types.graphql import OperationType

from domain.errors import DomainError
from schema.common import DECIMAL_SCALAR, Decimal
from schema.document_limits import check_input_literals, check_nesting
from schema.http_errors import ErrorCode
from schema.ledger.types import PointTransaction
from schema.members.types import Member
from schema.partners.types import Partner, PartnerApiKey
from schema.program.types import Badge, Campaign, LeaderboardDefinition, Tier
from schema.purchases.types import Purchase
from schema.rewards.types import Redemption, Reward
from schema.root import Mutation, Query, Subscription
from schema.selection_limits import check_selections

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 5_000
CACHE_SIZE = 1_000

log = logging.getLogger("coalition.graphql")

# Built once: the validation cache is keyed by the rule classes, so a rule class made afresh
# for every request (which is what the stock limiter extensions do) would never hit it.
_LIMIT_RULES: list[type[ASTValidationRule]] = [
    depth_rule(MAX_DEPTH, None, None),
    aliases_rule(MAX_ALIASES),
]
_PRODUCTION_RULES: list[type[ASTValidationRule]] = [*_LIMIT_RULES, NoSchemaIntrospectionCustomRule]
# What strawberry's own validation step adds to every rule set.
_STRAWBERRY_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)


@lru_cache(maxsize=CACHE_SIZE)
def _parse(query: str) -> DocumentNode:
    check_nesting(query, MAX_TOKENS)
    return parse(query, max_tokens=MAX_TOKENS)


class _Parse(SchemaExtension):
    """Parses through a cache shared by every request, refusing documents nested too deeply
    for the recursive parser or of too many tokens; a refusal raises as a syntax error does."""

    def on_parse(self) -> Iterator[None]:
        try:
            self.execution_context.graphql_document = _parse(self.execution_context.query)
        except GraphQLError as error:
            _set_code(error, ErrorCode.GRAPHQL_PARSE_FAILED)
            raise
        yield


@lru_cache(maxsize=CACHE_SIZE)
def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    refused = check_selections(document) or check_input_literals(document)
    if refused is not None:
        return [refused]
    errors = validate(
        schema, document, (*rules, *_STRAWBERRY_RULES), hide_suggestions=hide_suggestions
    )
    # Coded before they are cached, once: every request shares these very errors.
    for error in errors:
        _set_code(error, ErrorCode.GRAPHQL_VALIDATION_FAILED)
    return errors


def _set_code(error: GraphQLError, code: ErrorCode) -> None:
    """Gives a request error its `extensions.code`, unless a limit already gave it one."""
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code.value}


def _code_variable_errors(execute: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """graphql-core answers variables that do not coerce to their types at once, before any
    resolver runs: a result without data whose errors have no path."""
    result = execute(*args, **kwargs)
    if isinstance(result, ExecutionResult) and result.data is None:
        for error in result.errors or ():
            if error.path is None:
                _set_code(error, ErrorCode.INVALID_INPUT)
    return result


class _Validate(SchemaExtension):
    """Validates through a cache shared by every request (keyed by the parsed document, which
    the parse cache hands out again for the same text), after the selection limits: a document
    they refuse is never validated. Strawberry's own step cannot hide suggestions ("Did you
    mean 'member'?"), which would tell a stranger the schema that introspection hides."""

    def __init__(self, *, hide_suggestions: bool) -> None:
        super().__init__()
        self.hide_suggestions = hide_suggestions

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.pre_execution_errors = _validate(
            context.schema._schema,
            context.graphql_document,
            context.validation_rules,
            self.hide_suggestions,
        )
        yield


class _Limits(AddValidationRules):
    def __init__(self) -> None:
        super().__init__(_LIMIT_RULES)


class _ProductionLimits(AddValidationRules):
    def __init__(self) -> None:
        super().__init__(_PRODUCTION_RULES)


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is None or isinstance(original, (DomainError, GraphQLError))


class ShapeErrors(MaskErrors):
    """Domain errors in queries get their code; unexpected faults are masked in production."""

    def __init__(self, mask_unexpected: bool) -> None:
        super().__init__()
        self.mask_unexpected = mask_unexpected

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        shaped = []
        for error in errors:
            original = error.original_error
            if isinstance(original, DomainError):
                error = GraphQLError(
                    original.message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    extensions={"code": original.code.value, "field": original.field},
                )
            elif not _is_expected(error):
                error = self.anonymise_error(error) if self.mask_unexpected else error
                error.extensions = {**(error.extensions or {}), "code": "INTERNAL"}
            shaped.append(error)
        return shaped


def _several_operations(query: str) -> bool:
    try:
        document = _parse(query)
    except GraphQLError:
        return False  # answered as the parse step answers it
    return sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1


class CoalitionSchema(strawberry.Schema):
    def __init__(self, *args: Any, hide_suggestions: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hide_suggestions = hide_suggestions

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> StrawberryExecutionResult:
        # Strawberry runs the first of several operations when none is named; the GraphQL
        # spec makes that a request error ("GetOperation").
        if operation_name is None and query and _several_operations(query):
            error = GraphQLError(
                "The document has several operations: name the one to run in operationName.",
                extensions={"code": ErrorCode.OPERATION_RESOLUTION_FAILURE.value},
            )
            return StrawberryExecutionResult(data=None, errors=[error])
        if allowed_operation_types is not None:
            # Subscriptions are served over the websocket only (schema.websocket).
            allowed_operation_types = set(allowed_operation_types) - {OperationType.SUBSCRIPTION}
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types,
            operation_extensions,
        )

    def _get_execute_function(self) -> Callable[..., Any]:
        # Coercing variables suggests too ("Did you mean the enum value 'IN'?").
        execute = super()._get_execute_function()
        if self.hide_suggestions:
            execute = partial(execute, hide_suggestions=True)
        return partial(_code_variable_errors, execute)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Bad requests and userErrors are the caller's business; only faults are ours to log.
        for error in errors:
            if not _is_expected(error):
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)


def build_schema(*, production: bool) -> strawberry.Schema:
    return CoalitionSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            Member,
            PointTransaction,
            Redemption,
            Reward,
            Tier,
            Partner,
            Purchase,
            Badge,
            Campaign,
            LeaderboardDefinition,
            PartnerApiKey,
        ],
        config=StrawberryConfig(auto_camel_case=True, scalar_map={Decimal: DECIMAL_SCALAR}),
        extensions=[
            _Parse,
            _ProductionLimits if production else _Limits,
            lambda: _Validate(hide_suggestions=production),
            lambda: ShapeErrors(mask_unexpected=production),
        ],
        hide_suggestions=production,
    )
