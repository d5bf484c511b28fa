"""``c360 stream send FILE``: post a clickstream file to a collector (``POST /v1/events``) in batches.

A CSV file (the REES46 header plus ``ip`` and ``user_agent``) or NDJSON (one event object per
line) is read in order and posted as NDJSON, ``batch_events`` events per request. Connection
errors, timeouts, 429 and 5xx answers (503: the collector's transport is full) are retried with
exponential backoff; any other refusal (401, 403, 413 …) stops the send, since sending again will
not help. The collector answers per batch how many events it accepted and rejected, and why; the
totals say what happened to every event of the file.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.csv as pcsv

from c360.errors import C360Error

NDJSON = "application/x-ndjson"
RETRY_STATUS = {429, 500, 502, 503, 504}
SAMPLE_REJECTS = 20  # rejects kept to show (the counts cover all of them)


class SendError(C360Error):
    exit_code = 1


@dataclass
class SendResult:
    events: int = 0  # read from the file
    sent: int = 0  # events the collector answered for
    accepted: int = 0
    rejected: int = 0
    requests: int = 0  # answered requests
    retries: int = 0
    seconds: float = 0.0
    reasons: Counter = field(default_factory=Counter)
    sample: list[dict[str, Any]] = field(default_factory=list)  # first rejects, with their line in the file

    @property
    def events_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def read_file(path: Path, batch_events: int) -> Iterator[list[dict[str, Any]]]:
    """The file's events in batches; ``.csv`` as text columns, anything else as NDJSON lines.

    An NDJSON line that is not JSON is still sent (as text the collector will reject with its
    reason), so every line is accounted for by the collector's answer.
    """
    if path.suffix.lower() == ".csv":
        reader = pcsv.open_csv(
            path,
            convert_options=pcsv.ConvertOptions(strings_can_be_null=False, column_types=_all_text(path)),
        )
        pending: list[dict[str, Any]] = []
        for batch in reader:
            pending.extend(batch.to_pylist())
            while len(pending) >= batch_events:
                yield pending[:batch_events]
                pending = pending[batch_events:]
        if pending:
            yield pending
        return
    batch: list[Any] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                batch.append(json.loads(line))
            except json.JSONDecodeError:
                batch.append(_Raw(line.rstrip("\n")))
            if len(batch) >= batch_events:
                yield batch
                batch = []
    if batch:
        yield batch


class _Raw(str):
    """An NDJSON line that is not JSON: sent as it is, for the collector to reject."""


def _all_text(path: Path) -> dict[str, pa.DataType]:
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().strip()
    return dict.fromkeys((name.strip('"') for name in header.split(",")), pa.string())


def _ndjson(events: list[Any]) -> bytes:
    return "".join((e if isinstance(e, _Raw) else json.dumps(e)) + "\n" for e in events).encode()


def send_file(
    path: Path,
    url: str,
    key: str,
    *,
    batch_events: int = 1_000,
    retries: int = 5,
    backoff: float = 0.5,
    timeout: float = 30.0,
    client: httpx.Client | None = None,
    on_batch: Callable[[SendResult], None] | None = None,
) -> SendResult:
    """Post ``path`` to the collector at ``url`` (the server's base URL) with API key ``key``."""
    path = Path(path)
    if not path.is_file():
        raise SendError(f"{path} is not a file", hint="give a clickstream CSV file or an NDJSON file")
    if batch_events < 1 or retries < 0 or backoff < 0:
        raise SendError("batch_events must be at least 1, retries and backoff at least 0")
    own = client is None
    http = client or httpx.Client(base_url=url, timeout=timeout)
    endpoint = url.rstrip("/") + "/v1/events"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": NDJSON}
    result = SendResult()
    started = time.perf_counter()
    try:
        for events in read_file(path, batch_events):
            first_line = result.events
            result.events += len(events)
            answer = _post(http, endpoint, _ndjson(events), headers, retries, backoff, result)
            result.requests += 1
            result.sent += len(events)
            result.accepted += int(answer.get("accepted", 0))
            result.rejected += int(answer.get("rejected", 0))
            result.reasons.update(answer.get("reasons", {}))
            for reject in answer.get("rejects", []):
                if len(result.sample) < SAMPLE_REJECTS:
                    result.sample.append({**reject, "event": first_line + int(reject["index"]) + 1})
            if on_batch is not None:
                on_batch(result)
    finally:
        result.seconds = time.perf_counter() - started
        if own:
            http.close()
    return result


def _post(
    http: httpx.Client,
    endpoint: str,
    body: bytes,
    headers: dict[str, str],
    retries: int,
    backoff: float,
    result: SendResult,
) -> dict[str, Any]:
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            result.retries += 1
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            response = http.post(endpoint, content=body, headers=headers)
        except httpx.HTTPError as exc:  # refused connections, timeouts, broken answers
            problem = f"{type(exc).__name__}: {exc}"
            continue
        if response.status_code < 400:
            return response.json()
        problem = f"HTTP {response.status_code}: {_detail(response)}"
        if response.status_code not in RETRY_STATUS:
            break
    raise SendError(
        f"the collector at {endpoint} did not take a batch after {result.sent} events sent ({problem})",
        hint="check the URL and the API key (a role that sees PII), and that `c360 serve` is running",
    )


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        return response.text[:200]


def send_with_progress(path: Path, url: str, key: str, *, batch_events: int, retries: int) -> SendResult:
    """``send_file`` with a Rich progress line (events sent, accepted, rejected), then the totals."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from c360.console import console

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task(f"sending {path.name}")

        def shown(result: SendResult) -> None:
            progress.update(
                task,
                description=f"sending {path.name}: {result.sent:,} events, "
                f"{result.accepted:,} accepted, {result.rejected:,} rejected",
            )

        result = send_file(path, url, key, batch_events=batch_events, retries=retries, on_batch=shown)
    print_send_result(result)
    return result


def print_send_result(result: SendResult) -> None:
    from c360.console import out

    out.print(
        f"{result.sent:,} events in {result.requests:,} requests, {result.seconds:.2f} s "
        f"({result.events_per_second:,.0f} events/s): {result.accepted:,} accepted, "
        f"{result.rejected:,} rejected, {result.retries:,} retries"
    )
    if result.reasons:
        out.print("rejected: " + ", ".join(f"{r}: {n:,}" for r, n in sorted(result.reasons.items())))
    for reject in result.sample:
        out.print(f"  event {reject['event']}: {reject.get('field') or '-'}: {reject['reason']}")
