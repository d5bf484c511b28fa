"""REST API source: page through a JSON API with an incremental cursor, all or nothing.

An extraction requests ``url`` with ``cursor_param=<last cursor>`` (omitted the first time) and
follows the ``next_key`` links until there are none. Only a complete extraction is yielded, as one
batch: the cursor is the maximum ``cursor_field`` over every page, so landing half of the pages
under it would skip the other half forever.

Real APIs misbehave, so every page request is retried (exponential backoff with full jitter, at
least as long as a ``Retry-After`` asks) on rate limits, 5xx, timeouts, dropped connections and
pages that are not the expected JSON; a 4xx other than 408/429 is a mistake in the request that
no retry fixes, so it fails at once.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pyarrow as pa

from c360 import __version__
from c360.config import RestApiSource
from c360.errors import SourceError
from c360.sources.base import RAW_PREFIX, RowBatch, RowConnector

log = logging.getLogger("c360.sources.rest_api")

MAX_BACKOFF_SECONDS = 60.0
"""Ceiling of one backoff sleep, so a large max_retries does not mean waiting for hours."""
MAX_RETRY_AFTER_SECONDS = 300.0
"""A server asking to wait longer than this is treated as down for now rather than waited for."""

# Query parameters whose values are credentials; a page token or cursor is not one, and helps debugging.
_SECRET_PARAM = re.compile(
    r"^(key|token|sig)$|api[-_]?key|access[-_]?token|secret|password|passwd|auth|signature", re.IGNORECASE
)


@dataclass(frozen=True)
class _Failure:
    """Why one request failed, whether retrying can help, and what to tell the user if it cannot."""

    problem: str
    hint: str
    retryable: bool = True
    retry_after: float | None = None


class RestApiConnector(RowConnector):
    """Reads a paginated JSON API configured by a ``[sources.<name>]`` of kind ``rest_api``."""

    def __init__(self, name: str, settings: RestApiSource) -> None:
        super().__init__(name)
        self.settings = settings
        self._random = random.Random()

    def extract(self, state: dict[str, Any]) -> Iterator[RowBatch]:
        """Yield one batch with every record newer than ``state["cursor"]``, or nothing if none.

        Raises :class:`SourceError` if any page still fails after ``max_retries`` retries; the
        pages received before it are dropped and the state stays where it was.
        """
        settings = self.settings
        cursor = state.get("cursor")
        params = {settings.page_size_param: str(settings.page_size)}
        if cursor is not None:
            params[settings.cursor_param] = str(cursor)
        try:
            first_url = str(httpx.URL(settings.url).copy_merge_params(params))
        except httpx.InvalidURL as exc:
            raise SourceError(
                self.name, f"url {settings.url!r} is not valid: {exc}", hint=self._where("url")
            ) from None

        records: list[dict[str, Any]] = []
        pages = 0
        fetched: set[str] = set()
        headers = {"User-Agent": f"c360/{__version__}", "Accept": "application/json", **settings.headers}
        with httpx.Client(timeout=settings.timeout_seconds, headers=headers, follow_redirects=True) as client:
            url: str | None = first_url
            while url is not None:
                if url in fetched:
                    raise SourceError(
                        self.name,
                        f"pagination loops: the next link {_display_url(url)} was already fetched",
                        hint=f"the server's links repeat; check {self._where('next_key')}",
                    )
                fetched.add(url)
                page = self._fetch_page(client, url)
                records.extend(page[settings.records_key])
                pages += 1
                next_link = page.get(settings.next_key)
                url = urljoin(url, next_link) if next_link else None

        since = f"{settings.cursor_param}={cursor}" if cursor is not None else "(full extraction)"
        description = (
            f"GET {_display_url(settings.url)} {since}: "
            f"{pages:,} page{'s' if pages != 1 else ''}, {len(records):,} records"
        )
        log.info("source '%s': %s", self.name, description)
        if not records:
            return
        new_cursor = self._latest_cursor(records, cursor)
        yield RowBatch(records_to_table(records, self.name), {"cursor": new_cursor}, description)

    # -- one page, with retries ----------------------------------------------------------------

    def _fetch_page(self, client: httpx.Client, url: str) -> dict[str, Any]:
        settings = self.settings
        attempt = 0
        while True:
            outcome = self._get_once(client, url)
            if isinstance(outcome, dict):
                return outcome
            if not outcome.retryable or attempt >= settings.max_retries:
                break
            # Full jitter: clients that failed together must not retry together.
            delay = self._random.uniform(0, min(MAX_BACKOFF_SECONDS, settings.backoff_seconds * 2**attempt))
            if outcome.retry_after is not None:
                delay = max(delay, outcome.retry_after)
            attempt += 1
            log.warning(
                "source '%s': GET %s: %s; retry %d of %d in %.2f s",
                self.name,
                _display_url(url),
                outcome.problem,
                attempt,
                settings.max_retries,
                delay,
            )
            time.sleep(delay)
        tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
        raise SourceError(
            self.name, f"GET {_display_url(url)} failed after {tries}: {outcome.problem}", hint=outcome.hint
        )

    def _get_once(self, client: httpx.Client, url: str) -> dict[str, Any] | _Failure:
        settings = self.settings
        try:
            response = client.get(url)
        except httpx.TimeoutException:
            return _Failure(
                f"no response within {settings.timeout_seconds:g} s",
                f"the server is slow or stuck; raise timeout_seconds or max_retries in {self._where()}",
            )
        except httpx.UnsupportedProtocol as exc:
            return _Failure(f"unsupported URL ({exc})", f"use an http(s):// URL: {self._where('url')}", False)
        except httpx.TransportError as exc:
            return _Failure(
                f"connection failed ({type(exc).__name__}: {exc})",
                f"is the server running and reachable? check {self._where('url')}"
                " (for the simulated CRM, start `c360 simulate crm-server`)",
            )

        status = response.status_code
        if status in (408, 429) or status >= 500:
            retry_after = None
            if status in (429, 503):
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            problem = f"HTTP {status} {response.reason_phrase}"
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
                return _Failure(
                    f"{problem}, Retry-After {retry_after:.0f} s",
                    "the server asks to wait longer than c360 waits within one run; run again later",
                    retryable=False,
                )
            return _Failure(
                problem,
                "the server kept failing; run again later, or raise max_retries or backoff_seconds "
                f"in {self._where()}",
                retry_after=retry_after,
            )
        if status >= 400:
            if status in (401, 403):
                hint = f"the server refused the credentials; check headers in {self._where()}"
            elif status == 404:
                hint = f"no such endpoint; check {self._where('url')}"
            else:
                hint = f"the server rejected the request; check url and the *_param keys in {self._where()}"
            return _Failure(f"HTTP {status} {response.reason_phrase}: {_snippet(response.text)}", hint, False)

        try:
            page = response.json()
        except ValueError:
            return _Failure(
                f"the response is not JSON (HTTP {status}, {len(response.content):,} bytes: "
                f"{_snippet(response.text)})",
                f"the server sent a broken or non-JSON page; check that {self._where('url')} is the JSON API",
            )
        return self._check_page(page)

    def _check_page(self, page: Any) -> dict[str, Any] | _Failure:
        """The page if it has the shape configured, else why not (retried: it may be a glitch)."""
        settings = self.settings
        key = settings.records_key
        if not isinstance(page, dict):
            return _Failure(
                f"the response is a JSON {type(page).__name__}, not an object",
                f"set records_key in {self._where()} to the key of the records' list",
            )
        if not isinstance(page.get(key), list):
            found = "missing" if key not in page else f"a {type(page[key]).__name__}"
            return _Failure(
                f"the response's '{key}' is {found}, not a list of records (its keys: {', '.join(page)})",
                f"set records_key in {self._where()} to the key holding the records",
            )
        if not all(isinstance(record, dict) for record in page[key]):
            return _Failure(
                f"the response's '{key}' holds something other than JSON objects",
                f"set records_key in {self._where()} to the key holding the records",
            )
        next_link = page.get(settings.next_key)
        if next_link is not None and not isinstance(next_link, str):
            return _Failure(
                f"the response's '{settings.next_key}' is a {type(next_link).__name__}, not a URL",
                f"set next_key in {self._where()} to the key holding the next page's URL",
            )
        return page

    # -- cursor ------------------------------------------------------------------------------

    def _latest_cursor(self, records: list[dict[str, Any]], previous: Any) -> Any:
        """The maximum cursor_field over the records (never behind the previous cursor).

        A record without the field could not be asked for again, so the extraction is refused
        rather than landed under a cursor that does not cover it.
        """
        field = self.settings.cursor_field
        missing = sum(1 for record in records if record.get(field) is None)
        if missing:
            raise SourceError(
                self.name,
                f"{missing:,} of {len(records):,} records have no '{field}' (the cursor field)",
                hint=f"set cursor_field in {self._where()} to a field every record carries",
            )
        values = [record[field] for record in records]
        if previous is not None:
            values.append(previous)
        return _latest(values)

    def _where(self, key: str | None = None) -> str:
        section = f"[sources.{self.name}] in c360.toml"
        return section if key is None else f"{key} under {section}"


def records_to_table(records: list[dict[str, Any]], source: str) -> pa.Table:
    """One Arrow table from JSON records, with the types the values have.

    Columns are the union of every record's keys in order of first appearance (``from_pylist``
    would take only the first record's keys), and each column's type is inferred over all its
    values, so a field null on one page and set on another, or a nested object whose keys vary,
    gets one type. A column whose values disagree (a number here, text there) lands as text, with
    non-text values as JSON, rather than failing every run until the source is fixed.
    """
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    reserved = [name for name in names if name.startswith(RAW_PREFIX)]
    if reserved:
        raise SourceError(
            source,
            f"the records have field(s) {', '.join(reserved)}, but c360 reserves the prefix {RAW_PREFIX}",
            hint="rename the field(s) at the source",
        )
    columns: dict[str, pa.Array] = {}
    for name in names:
        values = [record.get(name) for record in records]
        try:
            array = pa.array(values)
            if not _has_empty_struct(array.type):
                columns[name] = array
                continue
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            pass
        kinds = sorted({type(value).__name__ for value in values if value is not None})
        log.warning(
            "source '%s': field '%s' has values of types %s that Arrow cannot hold as one; landed as text",
            source,
            name,
            ", ".join(kinds),
        )
        columns[name] = pa.array(
            [v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values],
            pa.string(),
        )
    return pa.table(columns)


def _has_empty_struct(arrow_type: pa.DataType) -> bool:
    # An object that is always {} infers as struct<>, which Parquet cannot write.
    if pa.types.is_struct(arrow_type):
        return arrow_type.num_fields == 0 or any(_has_empty_struct(f.type) for f in arrow_type)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return _has_empty_struct(arrow_type.value_type)
    return False


def _latest(values: list[Any]) -> Any:
    """The greatest value, comparing ISO timestamps as instants (``…Z`` and ``+00:00`` mix)."""
    try:
        return max(values, key=_as_utc)
    except (TypeError, ValueError):
        pass
    try:
        return max(values)
    except TypeError:
        return max(values, key=str)


def _as_utc(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(value)
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _retry_after_seconds(header: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for: delay-seconds or an HTTP date; None if absent/bad."""
    if header is None:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _display_url(url: str) -> str:
    """The URL for messages and logs, with credentials and token-like query values masked."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _snippet(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")
