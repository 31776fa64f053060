"""Every type, field, argument, input field and enum value of the schema says what it is: a
client developer reads the schema, in GraphiQL or a code generator, and nothing else."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
)

from schema.build import build_schema


def undescribed() -> list[str]:
    schema = build_schema(production=False)._schema
    missing: list[str] = []
    for name, kind in schema.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Float", "Boolean", "ID"):
            continue
        if not kind.description:
            missing.append(name)
        if isinstance(kind, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in kind.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in field.args.items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        elif isinstance(kind, GraphQLInputObjectType):
            for field_name, field in kind.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
        elif isinstance(kind, GraphQLEnumType):
            for value_name, value in kind.values.items():
                if not value.description:
                    missing.append(f"{name}.{value_name}")
    return missing


def test_every_element_of_the_schema_has_a_description():
    missing = undescribed()
    assert not missing, f"{len(missing)} without a description: {', '.join(missing)}"


def test_every_mutation_says_who_may_call_it_and_which_user_errors_it_returns():
    mutation = build_schema(production=False)._schema.mutation_type
    assert mutation is not None
    for name, field in mutation.fields.items():
        text = field.description or ""
        assert "Callers: " in text, name
        assert "userErrors codes: " in text, name
