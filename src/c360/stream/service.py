"""The stream runner wired to a project, for ``c360 stream run`` and for ``c360 serve``.

``wire_runner`` gives the runner its project outputs: alerts into the serving store (what
``GET /v1/alerts`` reads), live counters (``GET /v1/customers/{id}/live``), optionally the lake's
``analytics.stream_alerts``, and micro-batches into ``raw.<source>``. The serving-store writers are
the stream's outputs, so they are imported here, lazily, although they live in :mod:`c360.serve`.

``BackgroundStream`` runs such a runner on a thread of the server, on the transport the collector
publishes to: with the in-process queue, ``POST /v1/events`` → detectors → alerts and counters
then work in one process with nothing else started. Its ``stop`` first lets the runner handle
what the collector accepted (an in-process queue dies with the process), then lands what is held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from c360.lake.lock import LakeBusyError
from c360.stream.processor import Alert
from c360.stream.runner import StreamRunner
from c360.stream.settings import StreamSettings
from c360.stream.sinks import Sink
from c360.stream.transports.base import Transport

if TYPE_CHECKING:
    from c360.config import Project
    from c360.serve.live import LiveCounters
    from c360.stream.raw_sink import RawSink

log = logging.getLogger("c360.stream.service")
LAKE_RETRY_S = 1.0  # while another process holds the lake, the raw sink's opening is retried this often


@dataclass
class WiredRunner:
    """A runner and the outputs it was given, which its owner reports on and closes."""

    runner: StreamRunner
    sinks: list[Sink]
    raw_sink: RawSink | None
    live: LiveCounters | None

    def close(self) -> None:
        """Release what the runner does not close itself (it closes the alert sinks)."""
        if self.live is not None:
            self.live.close()


def wire_runner(
    transport: Transport,
    settings: StreamSettings,
    project: Project | None,
    *,
    sinks: Sequence[Sink] = (),
    land_raw: bool = True,
    store_alerts: bool = False,
    on_alert: Callable[[Alert], None] | None = None,
    stop: threading.Event | None = None,
) -> WiredRunner:
    """A runner on ``transport`` with the project's outputs added to ``sinks``.

    Without a project it only has ``sinks``. With ``stop``, a lake held by another process is
    waited for (until ``stop`` is set, which raises the LakeBusyError) instead of failing at once.
    """
    outputs = list(sinks)
    raw_sink: RawSink | None = None
    live: LiveCounters | None = None
    if project is not None:
        from c360.lake.catalog import open_catalog
        from c360.serve.alert_store import ServingAlertSink
        from c360.serve.live import LiveCounters
        from c360.serve.store import store_path

        outputs.append(ServingAlertSink(store_path(project), cooldown_s=settings.cooldown_s))
        live = LiveCounters(store_path(project))
        catalog = open_catalog(project)
        if store_alerts:
            from c360.stream.alerts import AlertStore

            outputs.append(AlertStore(catalog, flush_every=100))
        if land_raw and settings.raw_sink.enabled:
            from c360.stream.raw_sink import RawSink

            try:
                raw_sink = _when_lake_free(
                    lambda: RawSink(catalog, project.lake_dir, settings.raw_sink), stop
                )
            except BaseException:
                live.close()
                for sink in outputs[len(sinks) :]:
                    sink.close()
                raise
    runner = StreamRunner(
        transport,
        settings,
        sinks=outputs,
        raw_sink=raw_sink,
        on_events=[live.on_events] if live is not None else [],
        on_alert=on_alert,
    )
    return WiredRunner(runner, outputs, raw_sink, live)


def _when_lake_free(open_sink: Callable[[], RawSink], stop: threading.Event | None) -> RawSink:
    warned = False
    while True:
        try:
            return open_sink()
        except LakeBusyError as exc:
            if stop is None or stop.is_set():
                raise
            if not warned:
                log.warning("stream: waiting for the lake to open the raw sink: %s", str(exc).splitlines()[0])
                warned = True
            if stop.wait(LAKE_RETRY_S):
                raise


class BackgroundStream:
    """A wired runner on its own thread beside the server, consuming the collector's transport.

    The runner is built on that thread, so the server starts at once and the runner's SQLite
    connections are made where they are used; events the collector accepts meanwhile wait in
    the transport.
    """

    def __init__(self, project: Project, transport: Transport) -> None:
        self.project = project
        self.transport = transport
        self.wired: WiredRunner | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="c360-stream-run", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.wired = wire_runner(
                self.transport, self.project.settings.stream, self.project, stop=self._stop
            )
            self.wired.runner.run(self._stop)
        except BaseException as exc:
            self.error = exc
            if not self._stop.is_set():
                log.exception("stream: the in-process runner stopped; accepted events are not handled")

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Handle what the collector published (up to ``drain_timeout_s``), land and acknowledge
        what is held, then close the runner's outputs. The transport stays open: its owner closes it."""
        self.transport.flush(timeout_s=drain_timeout_s)  # the publisher's buffer, if the queue was full
        deadline = time.monotonic() + drain_timeout_s
        while self._thread.is_alive() and self.behind() > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        self._thread.join()
        if self.wired is not None:
            self.wired.close()
        left = self.behind()
        if left > 0:
            log.error(
                "stream: stopped with %d accepted events not handled (the in-process queue is lost)", left
            )

    def behind(self) -> int:
        """Events published through the transport that the runner has not been handed yet."""
        delivered = self.wired.runner.stats.delivered if self.wired is not None else 0
        return self.transport.stats.published - delivered
