"""FastAPI dependencies shared by every router of the app: who is calling, and may they run SQL.

Routers in other modules (web pages, dashboards, the event collector, alerts) take the app's
shared objects from ``request.app.state``: ``store`` (a ProfileReader), ``project``, ``catalog()``
(the lake catalog, opened on first use), ``keys``, ``audit`` and ``metrics``.

A key is presented in a header (API clients) or in the ``c360_key`` cookie that the sign-in page
of the web pages sets (browsers): both name the same principal, with the same role and masking.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from c360.serve.auth import Principal

KEY_COOKIE = "c360_key"


def presented_key(request: Request) -> str | None:
    """The key the request carries: ``Authorization: Bearer``, then ``X-API-Key``, then the cookie."""
    header = request.headers.get("authorization", "")
    presented = header[7:].strip() if header.lower().startswith("bearer ") else None
    return presented or request.headers.get("x-api-key") or request.cookies.get(KEY_COOKIE) or None


def signed_in(request: Request) -> Principal | None:
    """The principal of the request's key, or None (no key, unknown or revoked): pages redirect."""
    presented = presented_key(request)
    principal = request.app.state.keys.check(presented) if presented else None
    if principal is not None:
        request.state.principal = principal
    return principal


async def authenticate(request: Request) -> Principal:
    """The caller of a ``/v1`` route, from ``Authorization: Bearer <key>``, ``X-API-Key`` or the cookie.

    Async because verified keys are cached: the check is cheap, and running it on the event loop
    spares every request a trip through the thread pool.
    """
    presented = presented_key(request)
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
