"""What every resolver can reach: the caller, the program in force, the loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.actors import Actor
from domain.clock import Clock
from domain.program import Program
from gamification.leaderboards import Leaderboards
from gamification.watch import MemberEvents
from partners.api_keys import KeyRing
from schema.loaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    actor: Actor
    program: Program
    language: str | None
    loaders: Loaders
    clock: Clock
    # Partner keys this worker verified; a revocation reaches the other workers through it.
    keys: KeyRing
    # Which members a partner may see, worked out once per request.
    dealt_with: dict[int, bool] = field(default_factory=dict)
    # Over the websocket: the worker's live subscribers, and the connection_init payload.
    live: MemberEvents | None = None
    connection_params: dict[str, object] | None = None
    # Until when the caller's credentials hold (a member token's exp); a websocket is closed
    # then.
    valid_until: datetime | None = None
    # The program's leaderboards over the app's Redis; None where there is no Redis to ask.
    leaderboards: Leaderboards | None = None


def preferred_language(accept_language: str | None, program: Program) -> str | None:
    """The caller's most wanted language that the program speaks (RFC 9110 Accept-Language:
    q-values, then order; tags compared without case; "ro-RO" falls back to "ro")."""
    if not accept_language or len(accept_language) > 500:
        return None
    spoken = {language.lower(): language for language in program.languages}
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and 0 < weight <= 1:
            wanted.append((-weight, position, tag.lower()))
    for _, _, tag in sorted(wanted):
        for candidate in (tag, tag.split("-")[0]):
            if candidate in spoken:
                return spoken[candidate]
    return None
