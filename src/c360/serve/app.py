"""The serving API: profiles by any identifier, history, search, SQL, segments, health, metrics.

The same app serves the web pages (:mod:`c360.serve.web`: sign-in, search, customer cards) and
the routers of other modules, each added with one ``app.include_router(...)`` line.

``create_app(project)`` returns the FastAPI application (OpenAPI at ``/docs``). Every ``/v1``
route needs an API key (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``): none or an
unknown one → 401, a role without the right → 403. PII columns (``[pii]`` in the model headers)
are masked for roles without ``pii``. Every request goes to the audit log and the metrics.
Handlers doing blocking SQLite or DuckDB work are plain functions, run in the threadpool.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from c360.errors import C360Error
from c360.serve import alerts, collector, dashboards, live, web
from c360.serve.auth import AuditLog, KeyChecker, Principal, parse_roles
from c360.serve.deps import Caller, SqlCaller
from c360.serve.metrics import Metrics
from c360.serve.pii import PROFILE_TABLE, mask_row, pii_columns_by_table
from c360.serve.sql import ArrowCache, SqlForbidden, SqlRefused, SqlTimeout, check_sql, run_sql
from c360.serve.store import StoreError, init_store, jsonable, open_store, store_path, to_json

if TYPE_CHECKING:
    from c360.config import Project
    from c360.stream.service import BackgroundStream

LOOKUP_KINDS = ("client_id", "email", "phone", "visitor_id", "user_id", "order_id")
SEARCH_FIELDS = ("customer_id", "first_name", "last_name", "email", "city", "country")
MAX_SQL_ROWS = 10_000
# A 64-bit id: a larger number is a client error (422), not an overflow deep in the store (500).
CustomerId = Annotated[int, PathParam(ge=0, le=2**63 - 1, description="The customer_id")]


class SqlRequest(BaseModel):
    sql: str = Field(min_length=1, description="One SELECT (or WITH ... SELECT) over lake tables.")
    limit: int = Field(1000, ge=1, le=MAX_SQL_ROWS, description="Rows returned at most.")


OPEN_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")


class _Instrumentation:
    """Pure ASGI middleware: metrics and audit row of every HTTP request."""

    def __init__(self, app: Any, metrics: Metrics, audit: AuditLog) -> None:
        self.app = app
        self.metrics = metrics
        self.audit = audit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template is None:
                template = scope["path"] if scope["path"] in OPEN_PATHS else "<unmatched>"
            state = scope.get("state") or {}
            params: dict[str, Any] = dict(scope.get("path_params") or {})
            params.update(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            params.update(state.get("audit_detail", {}))
            self.metrics.observe(scope["method"], template, status, seconds)
            self.audit.write(
                state.get("principal"),
                scope["method"],
                template,
                json.dumps(params, default=str),
                status,
                state.get("rows"),
                seconds * 1000,
            )


def create_app(
    project: Project,
    *,
    roles: dict[str, dict[str, bool]] | None = None,
    segments: dict[str, str] | None = None,
    path: Path | None = None,
    sql_timeout_seconds: float = 10.0,
    run_stream: bool | None = None,
) -> FastAPI:
    """The API over the project's profile store.

    Profiles come from PostgreSQL when ``serve.store_url`` is set, else from the SQLite store at
    ``path`` (default ``<lake>/serving.db``); API keys and the audit log always live in that file.
    ``run_stream`` runs the stream runner on a thread of the server, consuming what ``POST
    /v1/events`` publishes; None (the default) runs it when [stream.transport] is the in-process
    queue, which nothing outside this process can consume.
    """
    store = open_store(project, path)
    path = path or store_path(project)
    init_store(path)
    known_roles = parse_roles(roles)
    pii_by_table = pii_columns_by_table(project)
    profile_pii = pii_by_table.get(PROFILE_TABLE, frozenset())
    segments = dict(segments or {})
    segment_sql = {name: _segment_query(name, predicate) for name, predicate in segments.items()}
    keys = KeyChecker(path, known_roles)
    audit = AuditLog(path)
    metrics = Metrics()
    lake: dict[str, Any] = {}
    arrow_cache = ArrowCache()

    def catalog() -> Any:
        if "catalog" not in lake:
            from c360.lake.catalog import open_catalog

            lake["catalog"] = open_catalog(project)
        return lake["catalog"]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stream = _start_stream(app, project, run_stream)
        yield
        if stream is not None:
            stream.stop()
        transport = getattr(app.state, "event_transport", None)  # or opened by the first POST /v1/events
        if transport is not None:
            transport.close()
        audit.close()

    app = FastAPI(
        lifespan=lifespan,
        title="c360 serving API",
        version="1",
        description="Customer 360 profiles by any identifier, search, SQL and segments.",
    )
    app.state.store = store
    app.state.keys = keys
    app.state.audit = audit
    app.state.metrics = metrics
    app.state.project = project
    app.state.catalog = catalog
    app.state.profile_pii = profile_pii
    app.state.store_path = path  # the SQLite file of keys, audit log, alerts and live counters
    app.add_middleware(_Instrumentation, metrics=metrics, audit=audit)

    def shown(principal: Principal, row: dict[str, Any]) -> dict[str, Any]:
        return row if principal.role.pii else mask_row(row, profile_pii)

    def stored(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except StoreError as exc:
            raise HTTPException(503, str(exc)) from None

    @app.exception_handler(C360Error)
    async def _c360_error(request: Request, exc: C360Error) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        try:
            return JSONResponse({"status": "ok", **store.info()})
        except StoreError as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/customers/{customer_id}", tags=["profiles"])
    async def get_customer(customer_id: CustomerId, request: Request, principal: Caller) -> Response:
        """The customer's profile: every customer_360 column of the published snapshot.

        The hot path: one indexed SQLite read on the event loop, and for roles that see PII the
        stored JSON goes out as it is, without being decoded and encoded again.
        """
        document = stored(store.get_json, customer_id)
        if document is None:
            request.state.rows = 0
            raise HTTPException(404, f"no customer {customer_id}")
        request.state.rows = 1
        if principal.role.pii:
            return Response(document, media_type="application/json")
        return JSONResponse(shown(principal, json.loads(document)))

    @app.get("/v1/customers", tags=["profiles"])
    def find_customers(
        request: Request,
        principal: Caller,
        email: Annotated[str | None, Query(min_length=3)] = None,
        phone: Annotated[str | None, Query(min_length=3)] = None,
        client_id: int | None = None,
        visitor_id: Annotated[str | None, Query(min_length=1)] = None,
        user_id: int | None = None,
        order_id: Annotated[str | None, Query(min_length=1)] = None,
    ) -> dict[str, Any]:
        """The customers an identifier belongs to (an e-mail may be shared by several)."""
        given = {
            kind: value
            for kind, value in zip(
                LOOKUP_KINDS, (client_id, email, phone, visitor_id, user_id, order_id), strict=True
            )
            if value is not None
        }
        if len(given) != 1:
            raise HTTPException(422, f"give exactly one identifier among: {', '.join(LOOKUP_KINDS)}")
        kind, value = next(iter(given.items()))
        found = stored(store.lookup, kind, str(value))
        request.state.rows = len(found)
        if not found:
            raise HTTPException(404, f"no customer with {kind} {value}")
        return {"kind": kind, "value": value, "customers": [shown(principal, row) for row in found]}

    @app.get("/v1/customers/{customer_id}/history", tags=["profiles"])
    def customer_history(customer_id: CustomerId, request: Request, principal: Caller) -> dict[str, Any]:
        """The customer in every snapshot of analytics.customer_360 kept in the lake, oldest first."""
        from c360.lake.query import run_query

        rows = run_query(
            catalog(),
            f"SELECT * FROM {PROFILE_TABLE} WHERE customer_id = {int(customer_id)} ORDER BY snapshot_date",
        ).to_pylist()
        request.state.rows = len(rows)
        if not rows:
            raise HTTPException(404, f"no customer {customer_id}")
        return {"customer_id": customer_id, "snapshots": [shown(principal, jsonable(row)) for row in rows]}

    @app.get("/v1/search", tags=["profiles"])
    def search(
        request: Request,
        principal: Caller,
        q: Annotated[str, Query(min_length=1, max_length=200, description="Names, e-mail or city")],
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    ) -> dict[str, Any]:
        """Profiles ranked by how well their names, e-mail and city match ``q`` (typo tolerant)."""
        total, page = stored(store.search, q, limit, offset)
        request.state.rows = len(page)
        return {
            "query": q,
            "total": total,
            "limit": limit,
            "offset": offset,
            "results": [
                {"score": round(score, 4), **shown(principal, {k: row.get(k) for k in SEARCH_FIELDS})}
                for score, row in page
            ],
        }

    @app.post("/v1/sql", tags=["sql"])
    def sql(body: SqlRequest, request: Request, principal: SqlCaller) -> Any:
        """Run one read-only SELECT over the lake tables (row and time limits; PII masked by role)."""
        request.state.audit_detail = {"sql": body.sql, "limit": body.limit}
        try:
            result = run_sql(
                catalog(),
                body.sql,
                limit=body.limit,
                timeout_seconds=sql_timeout_seconds,
                pii=principal.role.pii,
                pii_columns=pii_by_table,
                cache=arrow_cache,
            )
        except SqlForbidden as exc:
            raise HTTPException(403, str(exc)) from None
        except SqlTimeout as exc:
            raise HTTPException(408, str(exc)) from None
        except (SqlRefused, C360Error) as exc:
            raise HTTPException(400, str(exc)) from None
        request.state.rows = len(result.rows)
        return {
            "columns": result.columns,
            "rows": json.loads(to_json(result.rows)),
            "row_count": len(result.rows),
            "truncated": result.truncated,
            "seconds": round(result.seconds, 4),
        }

    @app.get("/v1/segments", tags=["segments"])
    def list_segments(principal: Caller) -> dict[str, Any]:
        """The saved segments: name → predicate over analytics.customer_360."""
        return {"segments": segments}

    @app.get("/v1/segments/{name}", tags=["segments"])
    def segment(
        name: str,
        request: Request,
        principal: Caller,
        limit: Annotated[int, Query(ge=1, le=MAX_SQL_ROWS)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """The customers of the latest snapshot matching the segment's predicate, by customer_id."""
        if name not in segment_sql:
            raise HTTPException(404, f"no segment named '{name}'")
        try:
            result = run_sql(
                catalog(),
                f"{segment_sql[name]} LIMIT {int(limit)} OFFSET {int(offset)}",
                limit=limit,
                timeout_seconds=sql_timeout_seconds,
                pii=True,
                pii_columns=pii_by_table,
                cache=arrow_cache,
            )
        except SqlTimeout as exc:
            raise HTTPException(408, str(exc)) from None
        except C360Error as exc:
            raise HTTPException(500, f"segment '{name}' failed: {exc}") from None
        rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        total = rows[0].pop("__total") if rows else 0
        for row in rows[1:]:
            row.pop("__total")
        request.state.rows = len(rows)
        return {
            "segment": name,
            "predicate": segments[name],
            "total": total,
            "limit": limit,
            "offset": offset,
            "customers": [shown(principal, jsonable(row)) for row in rows],
        }

    # The routers of other modules: web pages, dashboards, the event collector, alerts, live counters.
    app.include_router(web.router)
    app.include_router(dashboards.router)
    app.include_router(collector.router)
    app.include_router(alerts.router)
    app.include_router(live.router)
    return app


def _start_stream(app: FastAPI, project: Project, run_stream: bool | None) -> BackgroundStream | None:
    """The runner beside the server, on the transport the collector publishes to.

    A transport put in ``app.state.event_transport`` before startup belongs to whoever put it
    there, and so does consuming it: no runner then.
    """
    if getattr(app.state, "event_transport", None) is not None:
        return None
    if run_stream is None:
        run_stream = project.settings.stream.transport.kind == "memory"
    if not run_stream:
        return None
    from c360.stream.service import BackgroundStream
    from c360.stream.transports import open_transport

    app.state.event_transport = open_transport(project.settings.stream)
    app.state.stream = BackgroundStream(project, app.state.event_transport)
    app.state.stream.start()
    return app.state.stream


def _segment_query(name: str, predicate: str) -> str:
    """The SQL of a segment, checked once when the app starts (a bad predicate fails early)."""
    sql = (
        f"SELECT count(*) OVER () AS __total, * FROM {PROFILE_TABLE} "
        f"WHERE snapshot_date = (SELECT max(snapshot_date) FROM {PROFILE_TABLE}) AND ({predicate}) "
        "ORDER BY customer_id"
    )
    try:
        tables = check_sql(sql)
    except SqlRefused as exc:
        raise C360Error(f"segment '{name}': the predicate is not valid: {exc}") from None
    if tables != [PROFILE_TABLE]:
        raise C360Error(f"segment '{name}': a predicate may only read {PROFILE_TABLE}")
    return sql


def serve(
    project: Project,
    *,
    host: str = "127.0.0.1",
    port: int = 8360,
    roles: dict[str, dict[str, bool]] | None = None,
    segments: dict[str, str] | None = None,
    sql_timeout_seconds: float = 10.0,
) -> None:
    """Run the API with uvicorn until interrupted (``c360 serve``)."""
    import uvicorn

    uvicorn.run(
        create_app(project, roles=roles, segments=segments, sql_timeout_seconds=sql_timeout_seconds),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
    )
