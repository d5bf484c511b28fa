"""A simulated CRM REST API: the records of ``crm/clients.jsonl`` behind cursor pagination.

The reference system reads its CRM through a paginated JSON API with an ``updated_since`` cursor.
This server plays that API on localhost so the REST connector runs against real HTTP, and it can
misbehave the way real software-as-a-service APIs do (rate limits, 500s, slow and truncated
pages) so retries are exercised by tests and demos rather than discovered in production.

``GET /v1/clients?updated_since=<ISO datetime>&limit=<n>&page_token=<opaque>`` returns
``{"data": [...], "next": "<absolute URL>" | null}`` with records ordered by
``(updated_at, client_id)``; ``updated_since`` is exclusive. The page token encodes the position
of the last record served (not an offset), so records appended while a client pages through can
neither be served twice nor shift a page.

Chaos is deterministic: whether a request fails is a hash of the seed, the request's path and
query, and how many times in a row that same request has just failed. The same client against
the same data therefore sees the same failures on every run, and no request fails more than
``max_consecutive_failures`` times in a row, so a client with enough retries always finishes.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

log = logging.getLogger("c360.simulate.crm_server")

CLIENTS_PATH = "/v1/clients"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Sort key of a record: (updated_at in microseconds since the epoch, client id, load sequence).
# The client id is tagged (0, int) or (1, str) so ids of either type compare; the sequence number
# breaks ties between two lines with the same client and timestamp, which makes the order total.
_Key = tuple[int, tuple[int, int | str], int]


@dataclass(frozen=True)
class ChaosSettings:
    """How often the server misbehaves. Rates are probabilities per request and must sum to ≤ 1.

    The defaults are a moderate mix meant for demos (``ChaosSettings()``); pass ``chaos=None``
    to the server for a well-behaved API (benchmarks).
    """

    rate_limit_rate: float = 0.05
    """Share of requests answered 429 Too Many Requests with a ``Retry-After`` header."""
    retry_after_seconds: int = 1
    """Value of ``Retry-After``: whole seconds, as the HTTP spec's delay-seconds form requires."""
    server_error_rate: float = 0.05
    """Share of requests answered 500 Internal Server Error."""
    slow_rate: float = 0.01
    """Share of requests answered only after ``slow_seconds`` (then correctly)."""
    slow_seconds: float = 12.0
    """Just over the connector's default 10 s timeout, so a slow page is a client timeout."""
    malformed_rate: float = 0.02
    """Share of requests answered 200 with the JSON body cut in half."""
    max_consecutive_failures: int = 2
    """A given request fails at most this many times in a row, then succeeds."""
    healthy_requests: int = 0
    """The first N requests the server receives are served without chaos (a source that breaks
    mid-extraction rather than at once)."""

    def __post_init__(self) -> None:
        rates = (self.rate_limit_rate, self.server_error_rate, self.slow_rate, self.malformed_rate)
        if any(rate < 0 for rate in rates) or sum(rates) > 1:
            raise ValueError(f"chaos rates must be ≥ 0 and sum to ≤ 1, got {rates}")
        if self.retry_after_seconds < 0 or self.slow_seconds < 0:
            raise ValueError("retry_after_seconds and slow_seconds must be ≥ 0")
        if self.max_consecutive_failures < 0 or self.healthy_requests < 0:
            raise ValueError("max_consecutive_failures and healthy_requests must be ≥ 0")


class BadRequest(ValueError):
    """A query parameter the API rejects with 400."""


def parse_timestamp(text: str) -> datetime:
    """An ISO-8601 timestamp as an aware UTC datetime; a naive one is taken as UTC.

    A ``+`` in an unencoded query string arrives as a space (``+00:00`` → `` 00:00``); it is put
    back, since no valid timestamp contains a space before its offset.
    """
    text = text.strip()
    if len(text) > 6 and text[-6] == " ":
        text = f"{text[:-6]}+{text[-5:]}"
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def _client_key(client_id: object) -> tuple[int, int | str]:
    if isinstance(client_id, int) and not isinstance(client_id, bool):
        return (0, client_id)
    return (1, str(client_id))


def _encode_token(key: _Key) -> str:
    micros, (tag, client_id), seq = key
    raw = json.dumps([micros, tag, client_id, seq], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> _Key:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        micros, tag, client_id, seq = json.loads(raw)
        if not (isinstance(micros, int) and tag in (0, 1) and isinstance(seq, int)):
            raise ValueError(token)
        return (micros, (tag, client_id), seq)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadRequest(f"page_token {token!r} is not a token this server issued") from exc


class _RecordIndex:
    """The records sorted by key, fed from the file (tailed for appended lines) and ``add``.

    Records are kept as their JSON bytes so a page is a join of byte strings, not a re-encode.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: list[_Key] = []
        self._bodies: list[bytes] = []
        self._added: list[dict[str, Any]] = []
        self._offset = 0
        self._line_no = 0
        self._seq = 0
        self._lock = threading.Lock()
        self.refresh()

    def __len__(self) -> int:
        return len(self._keys)

    def refresh(self) -> None:
        """Index the complete lines appended to the file since the last call.

        A simulator may be appending to the file while the server runs; a line without its
        newline yet is left for the next call. A file that shrank was rewritten: start over.
        """
        with self._lock:
            size = self.path.stat().st_size
            if size < self._offset:
                log.info("%s shrank: re-reading it", self.path)
                self._keys, self._bodies = [], []
                self._offset = self._line_no = self._seq = 0
                for record in self._added:
                    self._insert(record, json.dumps(record).encode(), "add_records")
            if size == self._offset:
                return
            with self.path.open("rb") as file:
                file.seek(self._offset)
                chunk = file.read(size - self._offset)
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.splitlines():
                self._line_no += 1
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    log.warning("%s line %d skipped: not JSON (%s)", self.path, self._line_no, exc)
                    continue
                self._insert(record, line.strip(), f"{self.path} line {self._line_no}")

    def add(self, records: Iterable[dict[str, Any]]) -> int:
        """Index records that exist only in memory; return how many were added."""
        added = 0
        with self._lock:
            for record in records:
                if self._insert(record, json.dumps(record).encode(), "add_records"):
                    self._added.append(record)
                    added += 1
        return added

    def _insert(self, record: Any, body: bytes, where: str) -> bool:
        if not isinstance(record, dict) or "client_id" not in record or "updated_at" not in record:
            log.warning("%s skipped: not an object with client_id and updated_at", where)
            return False
        try:
            updated_at = parse_timestamp(str(record["updated_at"]))
        except ValueError:
            log.warning("%s skipped: updated_at %r is not ISO-8601", where, record["updated_at"])
            return False
        key: _Key = (_micros(updated_at), _client_key(record["client_id"]), self._seq)
        self._seq += 1
        # Appends mostly arrive in updated_at order: keep that case O(1).
        if not self._keys or key > self._keys[-1]:
            self._keys.append(key)
            self._bodies.append(body)
        else:
            at = bisect.bisect_right(self._keys, key)
            self._keys.insert(at, key)
            self._bodies.insert(at, body)
        return True

    def page(self, since: datetime | None, after: _Key | None, limit: int) -> tuple[list[bytes], _Key | None]:
        """Up to ``limit`` records with updated_at > ``since`` and key > ``after``, and the key to
        continue from (None when nothing follows)."""
        with self._lock:
            start = 0
            if since is not None:
                # (m,) sorts before every (m, ...): this finds the first key with updated_at ≥ since + 1 µs.
                start = bisect.bisect_left(self._keys, (_micros(since) + 1,))
            if after is not None:
                start = max(start, bisect.bisect_right(self._keys, after))
            end = min(start + limit, len(self._keys))
            more = end < len(self._keys)
            return self._bodies[start:end], (self._keys[end - 1] if more else None)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    app: CrmApiServer


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"  # keep-alive: a benchmark should not measure TCP handshakes
    # Headers and body go out in two writes; with Nagle on, the body waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection must not hold its thread forever

    def do_GET(self) -> None:
        try:
            self.server.app._handle(self)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (typically its timeout during a slow page): nothing to answer.
            self.close_connection = True

    def send_json(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class CrmApiServer:
    """The simulated CRM API on ``host:port`` (port 0: any free port), serving ``records_path``.

    The socket is bound on construction, so :attr:`url` is known before :meth:`start`. Use it as a
    context manager in tests (serves from a background thread) or call :meth:`serve_forever`.
    """

    def __init__(
        self,
        records_path: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        chaos: ChaosSettings | None = None,
    ) -> None:
        self.records_path = Path(records_path)
        if not self.records_path.is_file():
            raise FileNotFoundError(
                f"{self.records_path}: no such file (run `c360 simulate` first, or create it empty)"
            )
        self.seed = seed
        self.chaos = chaos
        self._records = _RecordIndex(self.records_path)
        self._stats: Counter[str] = Counter()
        self._failures_in_a_row: dict[str, int] = {}
        self._requests = 0
        self._chaos_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._served = False  # shutdown() waits forever on a server that never served
        self._http = _HttpServer((host, port), _Handler)
        self._http.app = self

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Absolute URL of the clients endpoint, e.g. ``http://127.0.0.1:8765/v1/clients``."""
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}{CLIENTS_PATH}"

    def start(self) -> CrmApiServer:
        """Serve from a daemon thread; return at once."""
        if self._thread is None:
            self._served = True
            # A short poll interval makes stop() quick, which a test suite of many servers notices.
            self._thread = threading.Thread(
                target=self._http.serve_forever, args=(0.05,), name="crm-api", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called from another (or Ctrl-C)."""
        self._served = True
        self._http.serve_forever()

    def stop(self) -> None:
        """Stop serving, wake any slow page that is sleeping, and close the socket."""
        self._stopping.set()
        if self._served:
            self._http.shutdown()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> CrmApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- data ------------------------------------------------------------------------------------

    def add_records(self, records: Iterable[dict[str, Any]]) -> int:
        """Serve more records from now on (kept in memory; the file is not written).

        Each needs ``client_id`` and an ISO-8601 ``updated_at``. Lines appended to the file are
        picked up too, on the next request. Returns how many records were added.
        """
        return self._records.add(records)

    @property
    def record_count(self) -> int:
        """Records served at present (file lines read so far plus added records)."""
        self._records.refresh()
        return len(self._records)

    @property
    def stats(self) -> dict[str, int]:
        """Responses sent so far by outcome: ok, rate_limited, server_error, slow, malformed,
        bad_request, not_found. A slow page also counts as ok once it is sent."""
        with self._chaos_lock:
            return dict(self._stats)

    # -- requests --------------------------------------------------------------------------------

    def _count(self, outcome: str) -> None:
        with self._chaos_lock:
            self._stats[outcome] += 1

    def _chaos_for(self, request_key: str) -> str | None:
        """The misbehaviour to inflict on this request, or None to serve it properly."""
        chaos = self.chaos
        with self._chaos_lock:
            self._requests += 1
            if chaos is None or self._requests <= chaos.healthy_requests:
                return None
            failed = self._failures_in_a_row.get(request_key, 0)
            outcome = None
            if failed < chaos.max_consecutive_failures:
                digest = hashlib.blake2b(f"{self.seed}|{request_key}|{failed}".encode(), digest_size=8)
                draw = int.from_bytes(digest.digest(), "big") / 2**64
                for name, rate in (
                    ("rate_limited", chaos.rate_limit_rate),
                    ("server_error", chaos.server_error_rate),
                    ("slow", chaos.slow_rate),
                    ("malformed", chaos.malformed_rate),
                ):
                    if draw < rate:
                        outcome = name
                        break
                    draw -= rate
            if outcome is None:
                self._failures_in_a_row.pop(request_key, None)
            else:
                self._failures_in_a_row[request_key] = failed + 1
            return outcome

    def _handle(self, request: _Handler) -> None:
        parts = urlsplit(request.path)
        if parts.path.rstrip("/") != CLIENTS_PATH:
            self._count("not_found")
            body = json.dumps({"error": f"no such endpoint {parts.path}; try {CLIENTS_PATH}"}).encode()
            request.send_json(HTTPStatus.NOT_FOUND, body)
            return
        try:
            since, after, limit = self._parse_query(parts.query)
        except BadRequest as exc:
            self._count("bad_request")
            request.send_json(HTTPStatus.BAD_REQUEST, json.dumps({"error": str(exc)}).encode())
            return

        chaos = self.chaos
        outcome = self._chaos_for(request.path)
        if chaos is not None and outcome == "rate_limited":
            self._count(outcome)
            request.send_json(
                HTTPStatus.TOO_MANY_REQUESTS,
                b'{"error": "rate limit exceeded (simulated)"}',
                {"Retry-After": str(chaos.retry_after_seconds)},
            )
            return
        if outcome == "server_error":
            self._count(outcome)
            request.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, b'{"error": "internal error (simulated)"}')
            return
        if chaos is not None and outcome == "slow":
            self._count(outcome)
            if self._stopping.wait(chaos.slow_seconds):
                request.close_connection = True
                return

        self._records.refresh()
        bodies, last = self._records.page(since, after, limit)
        next_url = None if last is None else self._next_url(request, parts.query, last)
        body = b'{"data":[' + b",".join(bodies) + b'],"next":' + json.dumps(next_url).encode() + b"}"
        if outcome == "malformed":
            self._count(outcome)
            body = body[: len(body) // 2]
        else:
            self._count("ok")
        request.send_json(HTTPStatus.OK, body)

    @staticmethod
    def _parse_query(query: str) -> tuple[datetime | None, _Key | None, int]:
        params = {name: values[-1] for name, values in parse_qs(query, keep_blank_values=True).items()}
        since = None
        if params.get("updated_since"):
            try:
                since = parse_timestamp(params["updated_since"])
            except ValueError as exc:
                raise BadRequest(
                    f"updated_since {params['updated_since']!r} is not an ISO-8601 datetime"
                ) from exc
        after = _decode_token(params["page_token"]) if params.get("page_token") else None
        limit = DEFAULT_LIMIT
        if params.get("limit"):
            try:
                limit = int(params["limit"])
            except ValueError as exc:
                raise BadRequest(f"limit {params['limit']!r} is not an integer") from exc
            if limit < 1:
                raise BadRequest(f"limit must be ≥ 1, got {limit}")
        return since, after, min(limit, MAX_LIMIT)

    def _next_url(self, request: _Handler, query: str, last: _Key) -> str:
        # Built from the Host the client used, so the link works when bound to 0.0.0.0.
        host = request.headers.get("Host") or urlsplit(self.url).netloc
        params = {name: values[-1] for name, values in parse_qs(query, keep_blank_values=True).items()}
        params["page_token"] = _encode_token(last)
        return f"http://{host}{CLIENTS_PATH}?{urlencode(params)}"


def run_server(
    records_path: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    chaos: ChaosSettings | None = None,
    *,
    seed: int = 0,
    on_start: Callable[[CrmApiServer], None] | None = None,
) -> None:
    """Serve ``records_path`` until Ctrl-C (for ``c360 simulate crm-server``).

    ``on_start`` receives the running server (e.g. to print :attr:`CrmApiServer.url` when port 0
    picked a free port). Ctrl-C is the normal way to stop, so it returns instead of raising.
    """
    server = CrmApiServer(Path(records_path), host, port, seed=seed, chaos=chaos)
    log.info("CRM API serving %d records from %s at %s", server.record_count, records_path, server.url)
    if on_start is not None:
        on_start(server)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


__all__ = ["CLIENTS_PATH", "ChaosSettings", "CrmApiServer", "parse_timestamp", "run_server"]
