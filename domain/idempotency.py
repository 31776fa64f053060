"""Run a point-moving operation at most once per (caller, idempotency key).

The key is looked up first: a replay answers with the recorded result before anything is
checked against the program (which may have changed since) or written. The record is written
in the same transaction as the operation, at its end, with the whole typed result (the member,
transaction, purchase or redemption as the first call showed them). Only successes are
recorded: a failed attempt writes nothing, so a retry is evaluated afresh. When an attempt
fails - a unique key clashes, or the balance its twin already spent is gone - we look again:
if the key has meanwhile recorded a result, that result is the answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from tortoise.exceptions import IntegrityError

from domain import history, results, sql
from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.program import Program
from domain.unit import Unit, unit_of_work

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

R = TypeVar("R")


@dataclass(frozen=True)
class Request:
    scope: str
    key: str
    operation: str
    fingerprint: str


def request(scope: str, key: object, operation: str, params: Mapping[str, Any]) -> Request:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidInput(
            "idempotencyKey",
            "idempotencyKey must be 1 to 255 printable characters without spaces.",
        )
    canonical = json.dumps(
        {"operation": operation, "params": params},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return Request(scope, key, operation, hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True)
class Ran(Generic[R]):
    result: R
    # True when the result is an earlier call's: this call wrote nothing.
    replayed: bool


async def run_once(
    req: Request | None,
    program: Program,
    work: Callable[[Unit], Awaitable[R]],
    result: type[R],
    now: datetime | None = None,
) -> Ran[R]:
    """Runs `work` in one unit of work, unless the key already has a result: then that one is
    the answer, found before anything is checked against the program or written."""
    if req is not None and (earlier := await recorded(req, result)) is not None:
        return Ran(earlier, replayed=True)
    try:
        async with unit_of_work(program, now) as unit:
            done = await work(unit)
            if req is not None:
                await sql.execute(
                    unit.conn,
                    "INSERT INTO idempotency_record "
                    "(scope, key, operation, request_hash, response, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        req.scope,
                        req.key,
                        req.operation,
                        req.fingerprint,
                        results.dump(done),
                        unit.now,
                    ],
                )
        return Ran(done, replayed=False)
    except (DomainError, IntegrityError):
        # A twin with the same key may have committed while this attempt ran: its result is
        # the answer, and this attempt's writes were rolled back.
        if req is None or (earlier := await recorded(req, result)) is None:
            raise
        return Ran(earlier, replayed=True)


async def recorded(req: Request, result: type[R]) -> R | None:
    earlier = await sql.row(
        sql.connection(),
        "SELECT operation, request_hash, response FROM idempotency_record "
        "WHERE scope = ? AND key = ?",
        [req.scope, req.key],
    )
    if earlier is None:
        return None
    if earlier["operation"] != req.operation or earlier["request_hash"] != req.fingerprint:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This idempotencyKey was already used for a different request.",
            "idempotencyKey",
        )
    response = sql.to_json(earlier["response"])
    try:
        return results.load(result, response)
    except results.UnreadableResult:
        # Recorded before results were kept whole: ids only, so the objects are read as now.
        return await history.result_from_ids(result, response)
