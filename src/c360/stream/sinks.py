"""Where alerts go as they fire: the log, a JSON-lines file, a webhook, the lake (``AlertStore``).

A sink takes the alerts of one micro-batch at a time (``send``) and is closed at the end. Sinks
never stop detection: the webhook retries, then logs and counts a failure and goes on, and
``fan_out`` isolates the sinks from one another (one raising is logged and counted, the others
still get the alerts).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from c360.errors import ConfigError
from c360.stream.processor import Alert

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("c360.stream.alerts")


@runtime_checkable
class Sink(Protocol):
    def send(self, alerts: list[Alert]) -> None: ...

    def close(self) -> None: ...


def describe(alert: Alert) -> str:
    """One line of text for an alert."""
    return (
        f"alert {alert.detector} {alert.key_type}={alert.key_value} severity={alert.severity} "
        f"count={alert.count} window={alert.window_start.isoformat()}/{alert.window_end.isoformat()} "
        f"detected_at={alert.detected_at_event_time.isoformat()}"
    )


class LogSink:
    """One log line per alert (level WARNING for high severity, INFO otherwise)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or log

    def send(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            level = logging.WARNING if alert.severity == "high" else logging.INFO
            self.logger.log(level, "%s", describe(alert))

    def close(self) -> None:
        pass


class FileSink:
    """Alerts appended to ``path`` as JSON lines (``Alert.as_dict``), flushed after every batch."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self.written = 0

    def send(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        self._file.write("".join(json.dumps(a.as_dict()) + "\n" for a in alerts))
        self._file.flush()
        self.written += len(alerts)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class WebhookSink:
    """POSTs each batch as a JSON array of ``Alert.as_dict`` to ``url``.

    Timeouts, connection errors, 429 and 5xx answers are retried ``retries`` times with exponential
    backoff (``backoff``, 2×``backoff`` …); then, or at once on another 4xx, the batch is given up:
    logged and counted in ``failures`` (batches) and ``failed_alerts``, and the stream goes on.
    """

    def __init__(self, url: str, timeout: float = 5.0, retries: int = 3, backoff: float = 0.5) -> None:
        import httpx

        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"invalid webhook URL {url!r}: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(f"invalid webhook URL {url!r}", hint="give an http:// or https:// URL")
        if retries < 0 or timeout <= 0 or backoff < 0:
            raise ConfigError("webhook timeout must be > 0, retries and backoff >= 0")
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self._client: httpx.Client = httpx.Client(timeout=timeout)
        self.delivered = 0  # alerts the webhook accepted (2xx/3xx)
        self.failures = 0  # batches given up
        self.failed_alerts = 0
        self.attempts = 0  # requests made, retries included

    def send(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        import httpx

        payload = [a.as_dict() for a in alerts]
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            self.attempts += 1
            try:
                response = self._client.post(self.url, json=payload)
            except httpx.HTTPError as exc:  # timeouts, refused connections, broken responses
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 400:
                self.delivered += len(alerts)
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code != 429 and response.status_code < 500:
                break  # the request itself is refused: sending it again will not help
        self.failures += 1
        self.failed_alerts += len(alerts)
        log.error(
            "webhook %s: %d alerts not delivered after %d attempts (%s)",
            self.url, len(alerts), attempt + 1, problem,
        )  # fmt: skip

    def close(self) -> None:
        self._client.close()


class FanOut:
    """Collects alerts (call it with each one) and sends them to every sink in one batch per
    ``flush()``: call ``flush`` after each micro-batch, ``close`` at the end."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)
        self._batch: list[Alert] = []
        self.errors = 0  # sink calls that raised (logged, then ignored)

    def __call__(self, alert: Alert) -> None:
        self._batch.append(alert)

    def send(self, alerts: list[Alert]) -> None:
        """Send ``alerts`` (with any collected ones) to every sink now."""
        self._batch.extend(alerts)
        self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        for sink in self.sinks:
            try:
                sink.send(list(batch))
            except Exception:
                self.errors += 1
                log.exception("alert sink %s failed on %d alerts", type(sink).__name__, len(batch))

    def close(self) -> None:
        """Flush, then close every sink (each even if another fails)."""
        self.flush()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                self.errors += 1
                log.exception("alert sink %s failed to close", type(sink).__name__)


def fan_out(sinks: Sequence[Sink]) -> FanOut:
    """A callable taking alerts one at a time, batching them per micro-batch for ``sinks``."""
    return FanOut(sinks)
