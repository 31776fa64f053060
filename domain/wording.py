"""What the ledger tells members, in their language.

A transaction's description and each line of an earning's breakdown are stored as text in the
program's default language: what a reader without a language gets when the text cannot be made
again. A breakdown line also keeps what its text was made from: a phrase and the values it was
said with (amounts as the receipt showed them, multipliers, counts), beside its rule key
(`rule:<key>`, `campaign:<key>`, `action:<key>`), which names what contributed. A description
is made from what its transaction records anyway: its kind, its reference (the order, the
reward) and its first breakdown line.

Read, the text is made again in the caller's language: names from the program in that language
(`Text.get`), phrases as the program file's `[wording]` says them there, else as `PHRASES` says
them (English); without a language, in the program's first one. The values are the ones
stored: a later program changes names, never what was earned. What cannot be made again (a
rule the program has since dropped, a row from before phrases were kept) is read as stored,
and the operator's own words (an adjustment's reason) are always shown as written.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from domain import views
from domain.program import Program, Text

PHRASES: Mapping[str, str] = {
    # Lines of an earning's breakdown. {name} is the rule's, campaign's or action's.
    "no_rate": "{currency} does not earn points",
    "excluded": "{name}: {amount} earn nothing",
    "below_minimum": "{name}: below {amount}, the purchase earns nothing",
    "base": "{rate} points per {currency} on {amount}",
    "base_one": "1 point per {currency} on {amount}",
    "multiplier": "{name}: x{multiplier}",
    "tier_multiplier": "{name} tier: x{multiplier}",
    "per_product": "{name}: {units} x {points}",
    "per_product_capped": "{name}: {units} x {points} (at most {max_units} a purchase)",
    "spend_threshold": "{name}: spent {amount} or more",
    "campaign_bonus": "{name}",
    "budget_ran_out": "{line} (the campaign's budget ran out)",
    "action": "{name}",
    "signup_bonus": "Welcome bonus",
    "referred_by_friend": "Referred by a friend",
    "friend_referred": "A friend you referred",
    "birthday_bonus": "Birthday bonus",
    # A badge level's bonus (its line and its transaction). {name} is the badge's.
    "badge_bonus": "Badge unlocked: {name}, level {level}",
    # Descriptions of transactions. {name} is the reward's.
    "purchase": "Purchase {order}",
    "referee_welcome": "Welcome bonus: a friend referred you",
    "referrer_bonus": "Referral bonus: your friend made their first purchase",
    "birthday": "Happy birthday!",
    "redeemed": "Redeemed: {name}",
    "redemption_cancelled": "Redemption cancelled: points returned",
    "refund": "Refund of order {order}",
    "expired": "Points expired",
    "repaid_on_release": "Released points applied to points owed",
    "repaid_on_return": "Returned points applied to points owed",
}

# What an earning whose first line says this is described as.
_BONUS_DESCRIPTIONS = {
    "signup_bonus": "signup_bonus",
    "referred_by_friend": "referee_welcome",
    "friend_referred": "referrer_bonus",
    "birthday_bonus": "birthday",
}
_PURCHASE_RULES = ("base", "rule:", "campaign:", "tier:")


@lru_cache(maxsize=512)  # a fixed set of templates, asked for every line of every history
def placeholders(template: str) -> frozenset[str]:
    """The names a template says: {"name", "amount"} for "{name}: spent {amount} or more".
    Raises ValueError for braces that are neither a placeholder nor doubled."""
    return frozenset(
        field for _, field, _, _ in string.Formatter().parse(template) if field is not None
    )


def text(
    program: Program,
    phrase: str,
    values: Mapping[str, Any] | None = None,
    *,
    rule: str = "",
    language: str | None = None,
) -> str:
    """A phrase said with these values (and the name `rule` names), in `language`: for writing,
    where whatever it names is in the program."""
    made = _made(program, language, phrase, values or {}, rule)
    if made is None:
        raise LookupError(f"the program has nothing named {rule!r} for the phrase {phrase!r}")
    return made


def line_text(line: Mapping[str, Any], program: Program, language: str | None) -> str:
    """A stored breakdown line's text, in `language` when it can be made again."""
    stored = str(line.get("description", ""))
    rule = str(line.get("rule", ""))
    phrase = _phrase_of_line(line, program)
    if phrase is None:
        return stored
    values = line.get("values")
    made = _made(program, language, phrase, values if isinstance(values, dict) else {}, rule)
    if made is not None and line.get("cut"):
        made = _made(program, language, "budget_ran_out", {"line": made}, "")
    return stored if made is None else made


# Said descriptions, for the last few programs in force (held here, so that their ids stay
# theirs), by language and transaction: a transaction never changes, nor does a
# program, and a member's history is read again and again. What it was said from is in the
# key too, should ids start again (an emptied database).
_Key = tuple[str | None, int, datetime, str, str | None, str | None]
_SAID: dict[int, tuple[Program, dict[_Key, str | None]]] = {}
_SAID_PROGRAMS = 4
_SAID_MAX = 50_000


def _said_in(program: Program) -> dict[_Key, str | None]:
    held = _SAID.get(id(program))
    if held is None or held[0] is not program or len(held[1]) >= _SAID_MAX:
        if len(_SAID) >= _SAID_PROGRAMS:
            _SAID.clear()
        held = _SAID[id(program)] = (program, {})
    return held[1]


def description(
    transaction: views.TransactionView, program: Program, language: str | None
) -> str | None:
    """A transaction's description, in `language` when it can be made again."""
    said = _said_in(program)
    key = (
        language,
        transaction.id,
        transaction.created_at,
        transaction.kind,
        transaction.reference,
        transaction.description,
    )
    if key not in said:
        said[key] = _description(transaction, program, language)
    return said[key]


def _description(
    transaction: views.TransactionView, program: Program, language: str | None
) -> str | None:
    stored = transaction.description
    if transaction.kind == "ADJUST":
        return stored  # the operator's reason, as written
    said = _description_of(
        transaction.kind,
        stored,
        transaction.reference,
        views.breakdown_of(transaction),
        program,
    )
    if said is None:
        return stored
    phrase, values, rule = said
    made = _made(program, language, phrase, values, rule)
    return stored if made is None else made


def _description_of(
    kind: str,
    stored: str | None,
    reference: str | None,
    lines: list[dict[str, Any]],
    program: Program,
) -> tuple[str, dict[str, str], str] | None:
    if kind == "REDEEM" and reference:
        return "redeemed", {}, f"reward:{reference}"
    if kind == "CANCEL":
        return "redemption_cancelled", {}, ""
    if kind == "REFUND" and reference:
        return "refund", {"order": reference}, ""
    if kind == "EXPIRE":
        return "expired", {}, ""
    if lines:
        # An earning: a purchase, an action, or a bonus (signup, referral, birthday).
        first = lines[0]
        rule = str(first.get("rule", ""))
        phrase = _phrase_of_line(first, program)
        if phrase == "action":
            return "action", {}, rule
        if phrase == "badge_bonus":
            values = first.get("values")
            return phrase, values if isinstance(values, dict) else {}, rule
        if phrase in _BONUS_DESCRIPTIONS:
            return _BONUS_DESCRIPTIONS[phrase], {}, ""
        if kind == "EARN" and reference and rule.startswith(_PURCHASE_RULES):
            return "purchase", {"order": reference}, ""
    constant = _constant(stored, program)
    return None if constant is None else (constant, {}, "")


def _phrase_of_line(line: Mapping[str, Any], program: Program) -> str | None:
    said = line.get("say")
    if isinstance(said, str) and said in PHRASES:
        return said
    if said is not None:
        return None
    # A line written before phrases were kept: its text may still be a phrase of its own.
    if str(line.get("rule", "")).startswith("action:"):
        return "action"
    return _constant(str(line.get("description", "")), program)


def _constant(stored: str | None, program: Program) -> str | None:
    """The phrase without values whose text, in the default language, is `stored`."""
    if not stored:
        return None
    for phrase, english in PHRASES.items():
        if "{" not in english and stored in (english, _template(program, phrase, None)):
            return phrase
    return None


# A phrase for one, and the phrase it is a case of. A program that words only the general
# phrase in a language has it said for one too, rather than the English for one.
_CASE_OF = {"base_one": "base"}


def _worded(program: Program, phrase: str, language: str | None) -> bool:
    worded = program.wording.get(phrase)
    return worded is not None and any(
        key in worded.translations for key in (language or program.languages[0], "")
    )


def _template(program: Program, phrase: str, language: str | None) -> str:
    """How the program says `phrase` in `language` (None: its first language): as its
    [wording] says it there, or in every language (a plain string), else in English."""
    worded = program.wording.get(phrase)
    if worded is not None:
        for key in (language or program.languages[0], ""):
            if key in worded.translations:
                return worded.translations[key]
    return PHRASES[phrase]


def _named(program: Program, rule: str) -> Text | None:
    kind, _, key = rule.partition(":")
    if kind == "rule":
        return next((r.name for r in program.purchase_rules if r.key == key), None)
    if kind == "campaign":
        return next((c.name for c in program.campaigns if c.key == key), None)
    if kind == "action":
        action = program.actions.get(key)
        return action.name if action else None
    if kind == "tier":
        tier = program.tier(key)
        return tier.name if tier else None
    if kind == "reward":
        reward = program.rewards.get(key)
        return reward.name if reward else None
    if kind == "badge":
        return next((b.name for b in program.badges if b.key == key), None)
    return None


def _made(
    program: Program,
    language: str | None,
    phrase: str,
    values: Mapping[str, Any],
    rule: str,
) -> str | None:
    """The phrase said in `language`, or None when it cannot be: it names what the program no
    longer has, or a stored value it needs is missing."""
    general = _CASE_OF.get(phrase)
    if (
        general is not None
        and not _worded(program, phrase, language)
        and _worded(program, general, language)
    ):
        phrase = general
    template = _template(program, phrase, language)
    wanted = placeholders(PHRASES[phrase])
    said = {key: str(value) for key, value in values.items() if key in wanted}
    if "name" in wanted:
        name = _named(program, rule)
        if name is None:
            return None
        said["name"] = name.get(language)
    if not wanted <= said.keys():
        return None
    return template.format_map(said)
