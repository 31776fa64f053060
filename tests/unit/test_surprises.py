"""The surprise draw: HMAC-SHA256(seed, "<key>:<event id>") mapped exactly to [0, 1)."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamification.surprises import SCALE, draw

SEED = bytes.fromhex("00112233445566778899aabbccddeeff" * 2)


def test_the_draw_is_the_hmac_of_the_key_and_the_event_id():
    made = draw(SEED, "lucky", 1234, Decimal("0.02"))
    expected = hmac.new(SEED, b"lucky:1234", hashlib.sha256).hexdigest()
    assert made.digest == expected
    assert made.roll == Fraction(int(expected, 16), 2**256)
    assert made.wins == (int(expected, 16) * 50 < 2**256)


def test_replaying_gives_the_same_outcome_and_other_keys_or_seeds_another():
    first = draw(SEED, "lucky", 99, Decimal("0.5"))
    assert draw(SEED, "lucky", 99, Decimal("0.5")) == first
    assert draw(SEED, "other", 99, Decimal("0.5")).digest != first.digest
    assert draw(b"another seed", "lucky", 99, Decimal("0.5")).digest != first.digest
    with pytest.raises(ValueError, match="seed"):
        draw(b"", "lucky", 99, Decimal("0.5"))


@given(st.binary(min_size=1, max_size=64), st.integers(1, 2**62))
def test_a_chance_of_one_always_wins_and_the_roll_is_in_0_1(seed, event_id):
    made = draw(seed, "k", event_id, Decimal(1))
    assert 0 <= made.roll < 1
    assert made.wins


@given(st.binary(min_size=1, max_size=64), st.integers(1, 2**62), st.decimals("0.000001", 1))
def test_the_comparison_is_exact(seed, event_id, chance):
    made = draw(seed, "k", event_id, chance)
    # n / 2^256 < p/q  <=>  n * q < p * 2^256: integers, no rounding anywhere.
    p, q = Fraction(chance).as_integer_ratio()
    assert made.wins == (int(made.digest, 16) * q < p * SCALE)


def test_about_one_in_fifty_wins():
    wins = sum(draw(SEED, "lucky", n, Decimal("0.02")).wins for n in range(1, 20_001))
    # 400 expected; the binomial's standard deviation is about 20.
    assert 300 < wins < 500
