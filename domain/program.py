"""The program definition: what earns points, what they buy, tiers and partners.

The operator writes it as one TOML file. `load_program` turns the text into frozen dataclasses
or raises `ProgramInvalid` listing every mistake with its location
(`rewards[2].points_cost: must be a whole number from 1 to 1000000000`), never a traceback.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
ACTION_KEY = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
ENTITY_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
PARTNER_CURRENCY = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")

T = TypeVar("T")

# Digits, with at most six after the point: no exponents, underscores or spaces.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,6})?")
MAX_POINTS = 1_000_000_000
MAX_RATE = Decimal(10_000)


@dataclass(frozen=True)
class Text:
    """A name or description, in one or more languages; the first one given is the fallback."""

    translations: Mapping[str, str]

    def get(self, language: str | None = None) -> str:
        if language and language in self.translations:
            return self.translations[language]
        return next(iter(self.translations.values()))


@dataclass(frozen=True)
class Action:
    key: str
    name: Text
    points: int


@dataclass(frozen=True)
class Tier:
    key: str
    name: Text
    threshold: int
    benefits: tuple[Text, ...]


@dataclass(frozen=True)
class Reward:
    key: str
    name: Text
    description: Text | None
    points_cost: int
    stock: int | None
    partner: str | None


@dataclass(frozen=True)
class Partner:
    key: str
    name: Text
    currency: str


@dataclass(frozen=True)
class Program:
    name: Text
    timezone: str
    languages: tuple[str, ...]
    purchase_rates: Mapping[str, Decimal]
    expiry_days: int | None
    actions: Mapping[str, Action]
    tiers: tuple[Tier, ...]
    rewards: Mapping[str, Reward]
    partners: Mapping[str, Partner]
    digest: str
    source: str = field(repr=False)
    # Set once the program is applied: the version every transaction records.
    version: int | None = None


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProgramInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_program(source: str) -> Program:
    try:
        document = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        raise ProgramInvalid([Problem("", f"not valid TOML: {error}")]) from None
    reader = _Reader()
    program = _read_program(reader, document, source)
    if reader.problems or program is None:
        raise ProgramInvalid(reader.problems)
    return program


def _read_program(r: _Reader, doc: dict[str, Any], source: str) -> Program | None:
    r.only_keys(
        doc, "", {"program", "points", "purchases", "actions", "tiers", "rewards", "partners"}
    )
    head = r.table(doc, "program", required=True)
    name = r.text(head, "program.name", required=True)
    timezone = r.string(head, "program.timezone", default="UTC")
    if timezone is not None and timezone not in _time_zones():
        r.problem("program.timezone", f"unknown time zone {timezone!r}")
    languages = r.string_list(head, "program.languages", pattern=LANGUAGE) or ("en",)
    r.only_keys(head, "program", {"name", "timezone", "languages"})

    points = r.table(doc, "points")
    expiry_days = r.integer(points, "points.expiry_days", low=1, high=36_500)
    r.only_keys(points, "points", {"expiry_days"})

    purchases = r.table(doc, "purchases", required=True)
    rates = _read_rates(r, purchases)
    r.only_keys(purchases, "purchases", {"rates"})

    actions = {a.key: a for _, a in r.keyed_list(doc, "actions", ACTION_KEY, _read_action)}
    tiers = _read_tiers(r, doc)
    partners = {p.key: p for _, p in r.keyed_list(doc, "partners", ENTITY_KEY, _read_partner)}
    rewards = {}
    for index, reward in r.keyed_list(doc, "rewards", ENTITY_KEY, _read_reward):
        rewards[reward.key] = reward
        if reward.partner is not None and reward.partner not in partners:
            r.problem(f"rewards[{index}].partner", f"no partner has the key {reward.partner!r}")

    if r.problems or name is None or timezone is None:
        return None
    return Program(
        name=name,
        timezone=timezone,
        languages=tuple(languages),
        purchase_rates=rates,
        expiry_days=expiry_days,
        actions=actions,
        tiers=tiers,
        rewards=rewards,
        partners=partners,
        digest=hashlib.sha256(source.encode()).hexdigest(),
        source=source,
    )


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _read_rates(r: _Reader, purchases: dict[str, Any]) -> dict[str, Decimal]:
    if "rates" not in purchases:
        r.problem("purchases.rates", "is required: the points earned per unit of each currency")
        return {}
    table = r.table(purchases, "purchases.rates")
    rates: dict[str, Decimal] = {}
    for currency, value in table.items():
        path = f"purchases.rates.{currency}"
        if not CURRENCY_CODE.fullmatch(currency):
            r.problem(path, "currency must be an ISO 4217 code of three capital letters")
            continue
        rate = r.decimal_value(value, path, low=Decimal(0), high=MAX_RATE)
        if rate is not None:
            rates[currency] = rate
    if not table and isinstance(purchases.get("rates"), dict):
        r.problem("purchases.rates", "give the points earned per unit of at least one currency")
    return rates


def _read_action(r: _Reader, item: dict[str, Any], path: str, key: str) -> Action | None:
    r.only_keys(item, path, {"key", "name", "points"})
    name = r.text(item, f"{path}.name", required=True)
    points = r.integer(item, f"{path}.points", low=1, high=MAX_POINTS, required=True)
    if name is None or points is None:
        return None
    return Action(key=key, name=name, points=points)


def _read_tier(r: _Reader, item: dict[str, Any], path: str, key: str) -> Tier | None:
    r.only_keys(item, path, {"key", "name", "threshold", "benefits"})
    name = r.text(item, f"{path}.name", required=True)
    threshold = r.integer(item, f"{path}.threshold", low=0, high=MAX_POINTS, required=True)
    benefits = r.text_list(item, f"{path}.benefits")
    if name is None or threshold is None:
        return None
    return Tier(key=key, name=name, threshold=threshold, benefits=benefits)


def _read_tiers(r: _Reader, doc: dict[str, Any]) -> tuple[Tier, ...]:
    read = r.keyed_list(doc, "tiers", ENTITY_KEY, _read_tier)
    if not read:
        if not r.problems_under("tiers"):
            r.problem(
                "tiers",
                "define at least one tier (the first, with threshold 0, is where every member "
                "starts)",
            )
        return ()
    first_index, first = read[0]
    if first_index == 0 and first.threshold != 0:
        r.problem("tiers[0].threshold", "the first tier must have threshold 0")
    for (_, before), (index, tier) in itertools.pairwise(read):
        if tier.threshold <= before.threshold:
            r.problem(
                f"tiers[{index}].threshold",
                "tiers must be listed in order of strictly increasing threshold",
            )
    return tuple(tier for _, tier in read)


def _read_reward(r: _Reader, item: dict[str, Any], path: str, key: str) -> Reward | None:
    r.only_keys(item, path, {"key", "name", "description", "points_cost", "stock", "partner"})
    name = r.text(item, f"{path}.name", required=True)
    description = r.text(item, f"{path}.description")
    cost = r.integer(item, f"{path}.points_cost", low=1, high=MAX_POINTS, required=True)
    stock = r.integer(item, f"{path}.stock", low=0, high=MAX_POINTS)
    partner = r.string(item, f"{path}.partner", pattern=ENTITY_KEY)
    if name is None or cost is None:
        return None
    return Reward(
        key=key, name=name, description=description, points_cost=cost, stock=stock, partner=partner
    )


def _read_partner(r: _Reader, item: dict[str, Any], path: str, key: str) -> Partner | None:
    r.only_keys(item, path, {"key", "name", "currency"})
    name = r.text(item, f"{path}.name", required=True)
    currency = r.string(item, f"{path}.currency", pattern=PARTNER_CURRENCY, required=True)
    if name is None or currency is None:
        return None
    return Partner(key=key, name=name, currency=currency)


class _Reader:
    """Reads values out of the parsed TOML, collecting every problem with its location."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    @staticmethod
    def _leaf(path: str) -> str:
        return path.rsplit(".", 1)[-1]

    def only_keys(self, table: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                self.problem(where, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def table(self, parent: dict[str, Any], path: str, required: bool = False) -> dict[str, Any]:
        value = parent.get(self._leaf(path))
        if value is None:
            if required:
                self.problem(path, "is required")
            return {}
        if not isinstance(value, dict):
            self.problem(path, "must be a table")
            return {}
        return value

    def string(
        self,
        parent: dict[str, Any],
        path: str,
        *,
        required: bool = False,
        default: str | None = None,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:
        value = parent.get(self._leaf(path))
        if value is None:
            if required:
                self.problem(path, "is required")
            return default
        if not isinstance(value, str) or not value.strip():
            self.problem(path, "must be a non-empty string")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(path, f"{value!r} does not match the pattern {pattern.pattern}")
            return None
        return value

    def string_list(
        self, parent: dict[str, Any], path: str, pattern: re.Pattern[str]
    ) -> tuple[str, ...] | None:
        value = parent.get(self._leaf(path))
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            self.problem(path, "must be a non-empty list of strings")
            return None
        good = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not pattern.fullmatch(item):
                self.problem(f"{path}[{index}]", f"must match the pattern {pattern.pattern}")
            else:
                good.append(item)
        return tuple(good)

    def integer(
        self, parent: dict[str, Any], path: str, *, low: int, high: int, required: bool = False
    ) -> int | None:
        value = parent.get(self._leaf(path))
        if value is None:
            if required:
                self.problem(path, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(path, f"must be a whole number from {low} to {high}")
            return None
        return value

    def decimal_value(
        self, value: Any, path: str, *, low: Decimal, high: Decimal
    ) -> Decimal | None:
        # Floats are accepted through their shortest decimal spelling, which is what was typed.
        text = str(value) if isinstance(value, (int, float, str)) else None
        if isinstance(value, bool) or text is None or not _PLAIN_DECIMAL.fullmatch(text):
            self.problem(path, f'{value!r} is not a number written like 1 or "1.5"')
            return None
        number = Decimal(text)
        if not low < number <= high:
            self.problem(path, f"must be greater than {low} and at most {high}")
            return None
        return number

    def text(self, parent: dict[str, Any], path: str, required: bool = False) -> Text | None:
        value = parent.get(self._leaf(path))
        if value is None:
            if required:
                self.problem(path, "is required")
            return None
        return self.text_value(value, path)

    def text_value(self, value: Any, path: str) -> Text | None:
        if isinstance(value, str) and value.strip():
            return Text({"": value})
        if isinstance(value, dict) and value:
            good: dict[str, str] = {}
            for language, words in value.items():
                if not LANGUAGE.fullmatch(language):
                    self.problem(f"{path}.{language}", "is not a language code such as en or ro")
                elif not isinstance(words, str) or not words.strip():
                    self.problem(f"{path}.{language}", "must be a non-empty string")
                else:
                    good[language] = words
            return Text(good) if len(good) == len(value) else None
        self.problem(path, 'must be a string, or a table of languages like { en = "Gold" }')
        return None

    def text_list(self, parent: dict[str, Any], path: str) -> tuple[Text, ...]:
        value = parent.get(self._leaf(path))
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(path, "must be a list")
            return ()
        texts = (self.text_value(item, f"{path}[{index}]") for index, item in enumerate(value))
        return tuple(t for t in texts if t is not None)

    def problems_under(self, path: str) -> bool:
        return any(
            p.path == path or p.path.startswith((f"{path}[", f"{path}.")) for p in self.problems
        )

    def keyed_list(
        self,
        doc: dict[str, Any],
        name: str,
        key_pattern: re.Pattern[str],
        read: Callable[[_Reader, dict[str, Any], str, str], T | None],
    ) -> list[tuple[int, T]]:
        """The valid entries of an array of tables, each with its position in the file, so that
        later checks name the entry the operator wrote, not its place among the valid ones."""
        items = doc.get(name, [])
        if not isinstance(items, list):
            self.problem(name, f"must be an array of tables, written [[{name}]]")
            return []
        result: list[tuple[int, T]] = []
        keys: set[str] = set()
        for index, item in enumerate(items):
            path = f"{name}[{index}]"
            if not isinstance(item, dict):
                self.problem(path, "must be a table")
                continue
            key = self.string(item, f"{path}.key", required=True, pattern=key_pattern)
            if key is None:
                continue
            if key in keys:
                self.problem(f"{path}.key", f"{key!r} is used twice")
                continue
            keys.add(key)
            value = read(self, item, path, key)
            if value is not None:
                result.append((index, value))
        return result
