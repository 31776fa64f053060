"""Leaderboard periods and the score a board keeps in Redis: pure arithmetic, no I/O.

Ties: **the earliest to reach the score ranks first.** A sorted set orders by one float, so
the stored value packs the board's score and the moment the member last changed it:

    value = score * 2**TICK_BITS + (MAX_TICK - tick)

Redis doubles hold every integer below 2**53 exactly, so the encoding is exact for

- scores from 0 to MAX_SCORE = 2**31 - 1 (a wallet never holds more, domain.ledger.MAX_WALLET);
  a score below 0 (a period whose refunds outweigh its earnings) ranks as 0 and one above the
  cap as the cap: both are clamped, and the score shown is the clamped one;
- ticks from 0 to MAX_TICK = 2**22 - 1, counted from the period's start: seconds on WEEK and
  MONTH boards (a 31-day month is 2,678,400 s), ten minutes on ALL_TIME boards from
  2020-01-01 UTC (MAX_TICK of them reach past 2099); earlier moments count as tick 0, later
  ones as MAX_TICK.

31 + 22 = 53 bits: the largest value, MAX_SCORE * 2**22 + MAX_TICK, is 2**53 - 1. Members who
reach the same score within the same tick are ordered as Redis orders equal values: by member
id, compared as text, the greater first.

Periods are the program's time zone's calendar: weeks from Monday 00:00, months from the 1st.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.program import BoardPeriod

SCORE_BITS = 31
TICK_BITS = 22
MAX_SCORE = 2**SCORE_BITS - 1
MAX_TICK = 2**TICK_BITS - 1
EXACT = 2**53

ALL_TIME_ORIGIN = datetime(2020, 1, 1, tzinfo=UTC)
ALL_TIME_TICK = timedelta(minutes=10)
PERIOD_TICK = timedelta(seconds=1)

# How long a closed period's key stays in Redis after the period ends: long enough to archive
# it and for clients to show last week's board for a while.
GRACE = timedelta(days=7)


def clamp_score(score: int) -> int:
    return min(max(score, 0), MAX_SCORE)


def encode(score: int, tick: int) -> int:
    """The sorted-set value for `score` reached at `tick`: higher scores first, then earlier
    ticks. Both are clamped to their bounds."""
    tick = min(max(tick, 0), MAX_TICK)
    return clamp_score(score) * 2**TICK_BITS + (MAX_TICK - tick)


def decode(value: float | int) -> tuple[int, int]:
    """(score, tick) from a stored value."""
    whole = int(value)
    score, rest = divmod(whole, 2**TICK_BITS)
    return score, MAX_TICK - rest


def score_of(value: float | int) -> int:
    return decode(value)[0]


@dataclass(frozen=True)
class Window:
    """One period of a board: [start, end) in UTC (end None for ALL_TIME), and its code in keys
    ("all", "w:2026-W48", "m:2026-11")."""

    period: BoardPeriod
    start: datetime
    end: datetime | None
    code: str

    def tick(self, moment: datetime) -> int:
        origin = ALL_TIME_ORIGIN if self.period is BoardPeriod.ALL_TIME else self.start
        unit = ALL_TIME_TICK if self.period is BoardPeriod.ALL_TIME else PERIOD_TICK
        return min(max((moment - origin) // unit, 0), MAX_TICK)

    def encode(self, score: int, reached_at: datetime) -> int:
        return encode(score, self.tick(reached_at))

    @property
    def expires_at(self) -> datetime | None:
        """When Redis drops the period's key: its end plus the grace."""
        return None if self.end is None else self.end + GRACE

    def previous(self, zone: ZoneInfo) -> Window | None:
        if self.period is BoardPeriod.ALL_TIME:
            return None
        return window(self.period, self.start - timedelta(seconds=1), zone)


def window(period: BoardPeriod, moment: datetime, zone: ZoneInfo) -> Window:
    """The period of kind `period` that holds `moment`, in the calendar of `zone`."""
    if period is BoardPeriod.ALL_TIME:
        return Window(period, ALL_TIME_ORIGIN, None, "all")
    local = moment.astimezone(zone)
    if period is BoardPeriod.WEEK:
        monday = local.date() - timedelta(days=local.weekday())
        start = datetime(monday.year, monday.month, monday.day, tzinfo=zone)
        following = monday + timedelta(days=7)
        end = datetime(following.year, following.month, following.day, tzinfo=zone)
        year, week, _ = monday.isocalendar()
        code = f"w:{year}-W{week:02d}"
    else:
        start = datetime(local.year, local.month, 1, tzinfo=zone)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        end = datetime(year, month, 1, tzinfo=zone)
        code = f"m:{local.year}-{local.month:02d}"
    return Window(period, start.astimezone(UTC), end.astimezone(UTC), code)


def window_at(period: BoardPeriod, start: datetime, zone: ZoneInfo) -> Window | None:
    """The period that starts exactly at `start`; None if no period of that kind does."""
    found = window(period, start, zone)
    return found if found.start == start.astimezone(UTC) else None


def percentile(rank: int, size: int) -> float:
    """How many of the board's members rank below this one, in percent (0 to 100): "ahead of
    73% of members". Alone on a board, a member is ahead of nobody: 0."""
    if size <= 0 or not 1 <= rank <= size:
        raise ValueError(f"rank {rank} is not on a board of {size}")
    return 100.0 * (size - rank) / size
