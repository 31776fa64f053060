"""Run a point-moving operation at most once per (caller, idempotency key).

The record is written in the same transaction as the operation, at its end, with the result.
Only successes are recorded: a failed attempt writes nothing, so a retry is evaluated afresh.
When an attempt fails - a unique key clashes, or the balance its twin already spent is gone -
we look again: if the key has meanwhile recorded a result, that result is the answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from domain import sql
from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.models import IdempotencyRecord
from domain.program import Program
from domain.unit import Unit, unit_of_work

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

Result = dict[str, Any]


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
class Ran:
    result: Result
    # True when the result is an earlier one's: this call's own work was not committed.
    replayed: bool


async def run_once(
    req: Request | None, program: Program, work: Callable[[Unit], Awaitable[Result]]
) -> Ran:
    if req is None:
        async with unit_of_work(program) as unit:
            return Ran(await work(unit), replayed=False)
    try:
        async with unit_of_work(program) as unit:
            result = await work(unit)
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
                    json.dumps(result, separators=(",", ":")),
                    unit.now,
                ],
            )
        return Ran(result, replayed=False)
    except (DomainError, IntegrityError):
        earlier = await recorded(req)
        if earlier is None:
            raise
        return Ran(earlier, replayed=True)


async def recorded(req: Request) -> Result | None:
    earlier = await IdempotencyRecord.get_or_none(scope=req.scope, key=req.key)
    if earlier is None:
        return None
    if earlier.operation != req.operation or earlier.request_hash != req.fingerprint:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This idempotencyKey was already used for a different request.",
            "idempotencyKey",
        )
    response = earlier.response
    return response if isinstance(response, dict) else json.loads(response)
