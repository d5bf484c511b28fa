"""``c360 stream``: replay, evaluate and run the real-time clickstream detectors."""

from __future__ import annotations

import json
from pathlib import Path

import click

from c360.commands.options import project_dir_option


@click.group("stream")
def stream_group() -> None:
    """The real-time clickstream: replay recorded events through the bot and flood detectors."""


@stream_group.command("replay")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds of event time per second of wall time; 0 = as fast as possible.",
)
@click.option(
    "--alerts-file", type=click.Path(dir_okay=False, path_type=Path), help="Append alerts as JSON lines."
)
@click.option("--webhook", help="POST each micro-batch of alerts as a JSON array to this URL.")
@click.option(
    "--store", is_flag=True, help="Store alerts in the lake table analytics.stream_alerts (needs --dir)."
)
@project_dir_option
def stream_replay(
    path: Path, speed: float, alerts_file: Path | None, webhook: str | None, store: bool, directory: Path
) -> None:
    """Feed a recorded clickstream (a REES46 CSV or a folder of them) through the detectors."""
    from c360.console import print_alert, print_replay_summary, print_sink_summary
    from c360.stream.replay import replay
    from c360.stream.sinks import FileSink, WebhookSink

    sinks: list = []
    if alerts_file is not None:
        sinks.append(FileSink(alerts_file))
    if webhook is not None:
        sinks.append(WebhookSink(webhook))
    if store:
        from c360.config import load_project
        from c360.lake.catalog import open_catalog
        from c360.stream.alerts import AlertStore

        sinks.append(AlertStore(open_catalog(load_project(directory))))
    print_replay_summary(replay(path, speed=speed, on_alert=print_alert, sinks=sinks or None))
    print_sink_summary(sinks)


@stream_group.command("evaluate")
@click.option(
    "--sim",
    "sim_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="A directory written by `c360 simulate` (its clickstream and _truth/attacks.csv).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def stream_evaluate(sim_dir: Path, fmt: str) -> None:
    """Score detection against the simulator's labelled attack episodes."""
    from c360.console import print_evaluation
    from c360.stream.evaluate import evaluate_simulation

    report = evaluate_simulation(sim_dir)
    if fmt == "json":
        click.echo(json.dumps(report, default=str))
    else:
        print_evaluation(report)
