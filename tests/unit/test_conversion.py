"""Conversion quotes without a database: whole blocks, fees rounded down, minimums, dated rates.

IN converts a partner's currency into coalition points, OUT points into the partner's
currency. A rate says `points` for `partner_units`; only whole blocks of the source side move
(the rest stays where it was), and the fee is taken, rounded down, from what arrives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.conversion import Quote, quote
from domain.errors import DomainError, ErrorCode
from domain.program import MAX_POINTS, ConversionRate, Direction, Partner, Text

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EARLIER = datetime(2026, 1, 1, tzinfo=UTC)

IN, OUT = Direction.IN, Direction.OUT


def rate(
    direction: Direction,
    points: int,
    partner_units: int,
    *,
    fee: str = "0",
    minimum_blocks: int = 1,
    effective_from: datetime = EARLIER,
) -> ConversionRate:
    return ConversionRate(
        direction=direction,
        points=points,
        partner_units=partner_units,
        effective_from=effective_from,
        fee_percent=Decimal(fee),
        minimum_blocks=minimum_blocks,
    )


def partner(*rates: ConversionRate, currency: str = "MILE") -> Partner:
    return Partner(key="skyways", name=Text({"en": "SkyWays"}), currency=currency, rates=rates)


SKYWAYS = partner(
    rate(IN, 250, 1000),
    rate(OUT, 250, 900, fee="2.5", minimum_blocks=2),
)


def moved(q: Quote) -> tuple[int, int]:
    return q.points, q.partner_amount


# -- whole blocks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(1000, (250, 1000)), (1999, (250, 1000)), (2000, (500, 2000)), (2500, (500, 2000))],
)
def test_in_converts_whole_blocks_of_the_partners_units_and_leaves_the_rest(
    amount: int, expected: tuple[int, int]
):
    got = quote(SKYWAYS, IN, amount, NOW)
    assert moved(got) == expected
    assert got.amount == amount
    assert got.direction is IN
    assert got.currency == "MILE"


@pytest.mark.parametrize(
    ("amount", "expected"),
    # 250 points = 900 MILE, less 2.5%: 2 blocks 1800 -> 1755; 3 blocks 2700 -> 2632.5 -> 2632.
    [(500, (500, 1755)), (749, (500, 1755)), (750, (750, 2632)), (760, (750, 2632))],
)
def test_out_converts_whole_blocks_of_points_less_the_fee_rounded_down(
    amount: int, expected: tuple[int, int]
):
    assert moved(quote(SKYWAYS, OUT, amount, NOW)) == expected


def test_the_fee_is_taken_from_what_arrives_in_both_directions():
    both = partner(rate(IN, 80, 100, fee="1.5"), rate(OUT, 100, 80, fee="1.5"))
    # IN: 3 blocks of 100 units = 240 points, less 1.5% = 236.4 -> 236; the units leave whole.
    assert moved(quote(both, IN, 350, NOW)) == (236, 300)
    # OUT: 3 blocks of 100 points = 240 units, less 1.5% -> 236; the points leave whole.
    assert moved(quote(both, OUT, 350, NOW)) == (300, 236)


def test_a_fee_that_leaves_a_fraction_rounds_down_even_just_below_a_whole():
    tiny = partner(rate(IN, 1, 1, fee="0.000001"))
    # 1000 points less a millionth of a percent is 999.99999999: 999.
    assert quote(tiny, IN, 1000, NOW).points == 999


def test_without_a_fee_nothing_is_taken():
    plain = partner(rate(OUT, 100, 15))
    assert moved(quote(plain, OUT, 1000, NOW)) == (1000, 150)
    assert quote(plain, OUT, 1000, NOW).description == "100 points = 15 MILE"
    assert quote(SKYWAYS, OUT, 500, NOW).description == "250 points = 900 MILE, less 2.5% fee"


# -- minimum blocks and invalid amounts --------------------------------------------------------


def test_fewer_blocks_than_the_minimum_are_refused():
    with pytest.raises(DomainError) as refused:
        quote(SKYWAYS, OUT, 499, NOW)
    assert refused.value.code is ErrorCode.LIMIT_EXCEEDED
    assert refused.value.field == "amount"
    assert refused.value.message == "Convert at least 500 points, in blocks of 250."
    assert moved(quote(SKYWAYS, OUT, 500, NOW)) == (500, 1755)


def test_less_than_one_block_is_refused_when_no_minimum_is_given():
    with pytest.raises(DomainError) as refused:
        quote(SKYWAYS, IN, 999, NOW)
    assert refused.value.code is ErrorCode.LIMIT_EXCEEDED
    assert refused.value.message == "Convert at least 1000 MILE, in blocks of 1000."


@pytest.mark.parametrize("amount", [0, -1, -1000, MAX_POINTS + 1, 10**18, True, False])
@pytest.mark.parametrize("direction", [IN, OUT])
def test_an_amount_that_is_not_a_whole_number_from_1_to_the_maximum_is_invalid(
    amount: int, direction: Direction
):
    with pytest.raises(DomainError) as refused:
        quote(SKYWAYS, direction, amount, NOW)
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert refused.value.field == "amount"


def test_the_maximum_amount_is_accepted():
    got = quote(SKYWAYS, IN, MAX_POINTS, NOW)
    assert moved(got) == (MAX_POINTS // 1000 * 250, MAX_POINTS // 1000 * 1000)


# -- rates in force ---------------------------------------------------------------------------


def test_no_rate_in_that_direction_is_not_eligible():
    in_only = partner(rate(IN, 50, 10))
    with pytest.raises(DomainError) as refused:
        quote(in_only, OUT, 1000, NOW)
    assert refused.value.code is ErrorCode.NOT_ELIGIBLE
    assert refused.value.field == "direction"
    with pytest.raises(DomainError) as none:
        quote(partner(), IN, 1000, NOW)
    assert none.value.code is ErrorCode.NOT_ELIGIBLE


def test_the_latest_rate_that_has_taken_effect_is_used_per_direction():
    dated = partner(
        rate(IN, 50, 100, effective_from=datetime(2025, 1, 1, tzinfo=UTC)),
        rate(IN, 90, 100, effective_from=NOW + timedelta(days=1)),  # not yet
        rate(IN, 80, 100, effective_from=datetime(2026, 1, 1, tzinfo=UTC)),
        rate(OUT, 100, 70, effective_from=datetime(2026, 3, 1, tzinfo=UTC)),
        rate(OUT, 100, 60, effective_from=datetime(2025, 6, 1, tzinfo=UTC)),
    )
    assert quote(dated, IN, 100, NOW).points == 80
    assert quote(dated, OUT, 100, NOW).partner_amount == 70
    # A rate takes effect at its moment exactly.
    assert quote(dated, IN, 100, NOW + timedelta(days=1)).points == 90
    assert quote(dated, IN, 100, NOW + timedelta(days=1, microseconds=-1)).points == 80
    # Before the 2026 rates, the older ones.
    assert quote(dated, IN, 100, datetime(2025, 12, 31, tzinfo=UTC)).points == 50
    assert quote(dated, OUT, 100, datetime(2026, 2, 1, tzinfo=UTC)).partner_amount == 60


def test_a_rate_dated_in_the_future_only_is_not_eligible_yet():
    later = partner(rate(OUT, 100, 100, effective_from=NOW + timedelta(seconds=1)))
    with pytest.raises(DomainError) as refused:
        quote(later, OUT, 1000, NOW)
    assert refused.value.code is ErrorCode.NOT_ELIGIBLE


# -- properties -------------------------------------------------------------------------------

fees = st.decimals(min_value=0, max_value=99, places=6, allow_nan=False, allow_infinity=False)


@st.composite
def rates(draw: st.DrawFn) -> ConversionRate:
    return rate(
        draw(st.sampled_from([IN, OUT])),
        draw(st.integers(1, 10_000)),
        draw(st.integers(1, 10_000)),
        fee=str(draw(fees)),
        minimum_blocks=draw(st.integers(1, 5)),
    )


@settings(max_examples=400, deadline=None)
@given(chosen=rates(), amount=st.one_of(st.integers(1, 60_000), st.integers(1, MAX_POINTS)))
@example(chosen=rate(IN, 250, 1000), amount=2500)
@example(chosen=rate(OUT, 250, 900, fee="2.5", minimum_blocks=2), amount=760)
@example(chosen=rate(OUT, 1, 1, fee="99"), amount=1)
def test_a_quote_never_moves_a_negative_amount_nor_more_than_its_blocks_and_is_stable(
    chosen: ConversionRate, amount: int
):
    direction = chosen.direction
    source_block = chosen.partner_units if direction is IN else chosen.points
    blocks = amount // source_block
    arriving = blocks * (chosen.points if direction is IN else chosen.partner_units)
    nothing_arrives = arriving * (100 - chosen.fee_percent) < 100
    if blocks < chosen.minimum_blocks or nothing_arrives:
        # Too little to fill the blocks, or so little that the fee leaves nothing to arrive.
        with pytest.raises(DomainError) as refused:
            quote(partner(chosen), direction, amount, NOW)
        assert refused.value.code is ErrorCode.LIMIT_EXCEEDED
        return
    got = quote(partner(chosen), direction, amount, NOW)
    assert got.points > 0
    assert got.partner_amount > 0
    if direction is IN:
        # What leaves the partner is whole blocks, at most what was offered.
        assert got.partner_amount == blocks * chosen.partner_units <= amount
        assert got.points <= blocks * chosen.points
        consumed = got.partner_amount
    else:
        assert got.points == blocks * chosen.points <= amount
        assert got.partner_amount <= blocks * chosen.partner_units
        consumed = got.points
    assert amount - consumed < source_block
    # Offering just what the quote consumed gives the same quote.
    again = quote(partner(chosen), direction, consumed, NOW)
    assert moved(again) == moved(got)
    assert again.rate == got.rate


def test_a_rate_of_one_point_says_point():
    beanery = partner(rate(OUT, 1, 15), currency="BEAN")
    assert quote(beanery, OUT, 3, NOW).description == "1 point = 15 BEAN"
    assert quote(SKYWAYS, IN, 1000, NOW).description == "250 points = 1000 MILE"
