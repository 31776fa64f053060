"""What every resolver can reach: the caller, the program in force, the loaders."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.actors import Actor
from domain.program import Program
from schema.loaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    actor: Actor
    program: Program
    language: str | None
    loaders: Loaders
    # Which members a partner may see, worked out once per request.
    dealt_with: dict[int, bool] = field(default_factory=dict)


def preferred_language(accept_language: str | None, program: Program) -> str | None:
    """The first language of the Accept-Language header that the program speaks."""
    if not accept_language:
        return None
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip()
        for candidate in (tag, tag.split("-")[0]):
            if candidate in program.languages:
                return candidate
    return None
