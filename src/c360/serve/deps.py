"""FastAPI dependencies shared by every router of the app: who is calling, and may they run SQL.

Routers in other modules (web pages, dashboards, the event collector, alerts) take the app's
shared objects from ``request.app.state``: ``store`` (ProfileStore), ``project``, ``catalog()``
(the lake catalog, opened on first use), ``keys``, ``audit`` and ``metrics``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from c360.serve.auth import Principal


async def authenticate(request: Request) -> Principal:
    """The caller of a ``/v1`` route, from ``Authorization: Bearer <key>`` or ``X-API-Key``.

    Async because verified keys are cached: the check is cheap, and running it on the event loop
    spares every request a trip through the thread pool.
    """
    header = request.headers.get("authorization", "")
    presented = header[7:].strip() if header.lower().startswith("bearer ") else None
    presented = presented or request.headers.get("x-api-key")
    if not presented:
        raise HTTPException(
            401,
            "an API key is required (Authorization: Bearer <key> or X-API-Key)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = request.app.state.keys.check(presented)
    if principal is None:
        raise HTTPException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(authenticate)]


def sql_allowed(principal: Caller) -> Principal:
    if not principal.role.sql:
        raise HTTPException(403, f"role '{principal.role.name}' may not run SQL")
    return principal


SqlCaller = Annotated[Principal, Depends(sql_allowed)]
