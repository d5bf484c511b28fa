"""The stream core on hand-made event sequences: each detector at its threshold, the reference rule's
tumbling windows, the watermark, the cooldown, and the validator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from c360.stream.events import COLUMNS, Rejects, hash_text, read_batches, read_events, validate
from c360.stream.processor import Alert, StreamProcessor
from c360.stream.settings import StreamSettings

T0 = datetime(2024, 5, 16, 12, 0, 0, tzinfo=UTC)  # a minute boundary: windows align on it
HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def event(
    second: float,
    user: str | int = 1,
    *,
    kind: str = "view",
    session: str | None = None,
    ip: str = "10.0.0.1",
    product: str | int = 100,
    agent: str = HUMAN,
    price: str = "9.99",
    time_text: str | None = None,
) -> dict[str, str]:
    when = T0 + timedelta(seconds=second)
    return {
        "event_time": time_text if time_text is not None else when.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "event_type": kind,
        "product_id": str(product),
        "category_id": "2053013555631882655",
        "category_code": "electronics.smartphone",
        "brand": "acme",
        "price": price,
        "user_id": str(user),
        "user_session": session if session is not None else f"session-{user}",
        "ip": ip,
        "user_agent": agent,
    }


def table(rows: list[dict[str, str]]) -> pa.Table:
    return pa.table({name: pa.array([r[name] for r in rows], pa.string()) for name in COLUMNS})


def run(
    *batches: list[dict[str, str]], settings: StreamSettings | None = None
) -> tuple[list[Alert], StreamProcessor]:
    processor = StreamProcessor(settings or StreamSettings())
    alerts: list[Alert] = []
    for rows in batches:
        alerts += processor.process(validate(table(rows)))
    return alerts, processor


def of(alerts: list[Alert], detector: str) -> list[Alert]:
    return [a for a in alerts if a.detector == detector]


# --- the reference rule: more than 5 events per user_id in a 10-second tumbling window


def test_six_events_in_ten_seconds_flag_a_user_and_five_do_not() -> None:
    six, _ = run([event(s, user=7) for s in range(6)])
    (alert,) = of(six, "reference")
    # counted per user_id; named by its actor: the user's one session
    assert (alert.key_type, alert.key_value, alert.severity, alert.count) == (
        "user_session",
        "session-7",
        "medium",
        6,
    )
    assert (alert.window_start, alert.window_end) == (T0, T0 + timedelta(seconds=10))
    assert alert.first_event_time == T0
    assert alert.detected_at_event_time == T0 + timedelta(seconds=5)
    five, _ = run([event(s, user=7) for s in range(5)])
    assert of(five, "reference") == []


def test_the_windows_are_tumbling_so_six_events_across_a_boundary_do_not_flag() -> None:
    split, _ = run([event(s, user=7) for s in (7, 8, 9, 10, 11, 12)])
    assert of(split, "reference") == []
    inside, _ = run([event(s, user=7) for s in (10, 11, 12, 13, 19, 19)])
    (alert,) = of(inside, "reference")
    assert alert.window_start == T0 + timedelta(seconds=10)


def test_more_than_ten_events_raise_the_severity() -> None:
    alerts, _ = run([event(s * 0.5, user=7) for s in range(11)])
    assert [a.severity for a in of(alerts, "reference")] == ["medium", "high"]
    assert of(alerts, "reference")[1].count == 11


def test_the_rule_is_configurable() -> None:
    settings = StreamSettings()
    settings.reference.threshold, settings.reference.window_s, settings.reference.slide_s = 2, 60, 60
    settings.reference.high = None
    alerts, _ = run([event(s, user=7) for s in (0, 30, 59)], settings=settings)
    assert len(of(alerts, "reference")) == 1


def test_users_are_counted_apart() -> None:
    alerts, _ = run([event(s, user=s % 2) for s in range(10)])
    assert of(alerts, "reference") == []


# --- watermark, lateness, out-of-order events


def test_out_of_order_event_within_lateness_counts_in_its_own_window() -> None:
    rows = [event(70 + s, user=7) for s in range(5)] + [event(95, user=8), event(75, user=7)]
    alerts, processor = run(rows)
    (alert,) = of(alerts, "reference")
    assert alert.window_start == T0 + timedelta(seconds=70)
    assert alert.detected_at_event_time == T0 + timedelta(seconds=95)  # the stream's clock at arrival
    assert processor.counts.out_of_order == 1 and processor.counts.late == 0


def test_late_event_beyond_lateness_is_counted_and_dropped() -> None:
    rows = [event(70 + s, user=7) for s in range(5)] + [event(110, user=8), event(75, user=7)]
    alerts, processor = run(rows)  # 75 < 110 - 30: late
    assert of(alerts, "reference") == []
    assert processor.counts.late == 1 and processor.counts.accepted == 6


def test_lateness_is_judged_the_same_across_batches() -> None:
    first = [event(70 + s, user=7) for s in range(5)] + [event(110, user=8)]
    alerts, processor = run(first, [event(75, user=7)])
    assert of(alerts, "reference") == [] and processor.counts.late == 1
    alerts, processor = run(first, [event(71, user=7)], settings=StreamSettings(allowed_lateness_s=40))
    assert len(of(alerts, "reference")) == 1 and processor.counts.late == 0


def test_alerts_do_not_depend_on_how_the_stream_is_batched() -> None:
    rows = [event(s * 0.5, user=7) for s in range(40)]
    rows += [event(30 + s, user=100 + s, ip="10.9.9.9") for s in range(30)]
    rows += [event(40 + s * 3, user=5, ip="10.1.1.1", agent=BOT) for s in range(12)]
    whole, _ = run(rows)
    one_by_one, _ = run(*[[r] for r in rows])
    assert whole and sorted(map(repr, whole)) == sorted(map(repr, one_by_one))


# --- cooldown


def test_cooldown_swallows_repeats_of_the_same_key_but_not_later_ones() -> None:
    rows = [event(w * 10 + s, user=7) for w in range(3) for s in range(6)]
    rows += [event(700 + s, user=7) for s in range(6)]
    settings = StreamSettings(cooldown_s=600)
    settings.reference.high = None
    alerts, processor = run(rows, settings=settings)
    starts = [a.window_start for a in of(alerts, "reference")]
    assert starts == [T0, T0 + timedelta(seconds=700)]
    assert processor.counts.suppressed >= 2


def test_cooldown_is_per_key() -> None:
    settings = StreamSettings()
    settings.reference.high = None
    alerts, _ = run([event(s, user=u) for u in (1, 2) for s in range(6)], settings=settings)
    assert sorted(a.key_value for a in of(alerts, "reference")) == ["session-1", "session-2"]


# --- floods


def test_ip_flood_fires_above_its_threshold_on_a_sliding_window() -> None:
    # 26 events from one address within 20 s, each from another account, straddling 30-second
    # boundaries: a tumbling 30-second window would split them, the sliding one [10, 40) does not
    rows = [event(15 + s * 0.8, user=1000 + s, ip="9.9.9.9") for s in range(26)]
    alerts, _ = run(rows)
    (alert,) = of(alerts, "ip_flood")
    assert (alert.key_value, alert.count) == ("9.9.9.9", 26)
    assert alert.window_end - alert.window_start == timedelta(seconds=30)
    fewer, _ = run(rows[:25])
    assert of(fewer, "ip_flood") == []


def test_session_flood() -> None:
    rows = [event(s, user=1000 + s, session="s-1", ip=f"10.0.1.{s}") for s in range(26)]
    alerts, _ = run(rows)
    assert [a.key_value for a in of(alerts, "session_flood")] == ["s-1"]


def test_distributed_flood_counts_distinct_addresses_on_one_product() -> None:
    many = [event(s * 5, user=2000 + s, ip=f"10.1.0.{s}", product=42) for s in range(21)]
    alerts, _ = run(many)
    (alert,) = of(alerts, "distributed_flood")
    assert (alert.key_type, alert.key_value, alert.count) == ("product_id", "42", 21)
    # 40 events but only 20 addresses: not distributed enough
    few = [event(s * 5, user=2000 + s, ip=f"10.1.0.{s % 20}", product=42) for s in range(40)]
    alerts, _ = run(few)
    assert of(alerts, "distributed_flood") == []


def test_global_spike_against_the_running_baseline() -> None:
    settings = StreamSettings()
    settings.distributed.global_min_count = 50
    quiet = [event(m * 60 + 7, user=3000 + m, ip=f"10.2.{m // 200}.{m % 200}") for m in range(30)]
    burst = [event(31 * 60 + s * 0.2, user=4000 + s, ip=f"10.3.{s // 200}.{s % 200}") for s in range(51)]
    alerts, _ = run(quiet, burst, settings=settings)
    (alert,) = of(alerts, "global_spike")
    assert alert.key_type == "global" and alert.count == 51
    alerts, _ = run(quiet, burst[:50], settings=settings)
    assert of(alerts, "global_spike") == []


# --- bot signatures


def test_crawler_agent_is_flagged_on_its_ip() -> None:
    alerts, _ = run([event(0, user=5, ip="7.7.7.7", agent=BOT)])
    assert sorted((a.key_type, a.key_value) for a in of(alerts, "bot_agent")) == [("ip", "7.7.7.7")]
    human, _ = run([event(0, user=5, ip="7.7.7.7")])
    assert of(human, "bot_agent") == []


def test_metronomic_timing_is_flagged_and_human_jitter_is_not() -> None:
    regular = [event(s * 3, user=5, ip="7.7.7.7", product=s) for s in range(10)]
    alerts, _ = run(regular)
    # a human agent: the actor is the one session it keeps
    assert {(a.key_type, a.key_value) for a in of(alerts, "bot_regular")} == {("user_session", "session-5")}
    assert of(run(regular[:9])[0], "bot_regular") == []  # fewer than 10 events
    gaps = [0, 3, 9, 11, 25, 28, 40, 44, 61, 70]
    assert of(run([event(s, user=5, ip="7.7.7.7") for s in gaps])[0], "bot_regular") == []


def test_views_without_dwell() -> None:
    views = [event(0, user=5, session="s-9") for _ in range(7)]  # 6 views follow one within a second
    (alert,) = of(run(views)[0], "bot_no_dwell")
    assert (alert.key_type, alert.key_value) == ("user_session", "s-9")
    assert of(run(views[:6])[0], "bot_no_dwell") == []
    carts = [event(0, user=5, session="s-9", kind="cart") for _ in range(10)]
    assert of(run(carts)[0], "bot_no_dwell") == []


def test_cart_churn_without_purchase() -> None:
    churn = [event(s * 7, user=5, kind="cart" if s % 2 == 0 else "remove_from_cart") for s in range(16)]
    (alert,) = of(run(churn)[0], "bot_cart_churn")
    assert (alert.key_type, alert.key_value) == ("user_session", "session-5")
    assert of(run(churn[:15])[0], "bot_cart_churn") == []
    bought = [*churn, event(100, user=5, kind="purchase")]
    assert of(run(bought)[0], "bot_cart_churn") == []


# --- validation


def test_validator_rejects_with_one_reason_each() -> None:
    rows = [
        event(0),
        event(1, kind="click"),
        event(2, price="-3.50"),
        event(3, time_text="2024-05-16T12:00:03"),
        event(4, user=""),
        event(5, price="N/A"),
        event(6, price=""),  # a missing price is allowed
    ]
    rejects = Rejects()
    valid = validate(table(rows), rejects)
    assert valid.size == 2
    assert dict(rejects.counts) == {
        "unknown event_type": 1,
        "negative price": 1,
        "unparseable time": 1,
        "missing user_id": 1,
        "unparseable price": 1,
    }
    (rejected,) = rejects.rows
    assert rejected["reason"].to_pylist() == [
        "unknown event_type", "negative price", "unparseable time", "missing user_id", "unparseable price",
    ]  # fmt: skip
    assert valid.time_us[0] == int(T0.timestamp()) * 1_000_000


def test_reader_skips_and_counts_malformed_lines(tmp_path: Path) -> None:
    rows = [event(s) for s in range(3)]
    lines = [",".join(COLUMNS)] + [",".join(f'"{r[c]}"' for c in COLUMNS) for r in rows]
    lines.insert(2, "2024-05-16 12:00:01 UTC,view,1")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    rejects = Rejects()
    assert sum(b.num_rows for b in read_batches(path, rejects=rejects)) == 3
    assert rejects.counts["malformed line"] == 1
    assert sum(v.size for v in read_events([path])) == 3


def test_hash_text_is_stable_and_tells_strings_apart() -> None:
    values = pa.array(["a", "b", "", None, "a", "ab", "ba", "longer value " * 5])
    hashed = hash_text(values)
    assert hashed[0] == hashed[4] and hashed[2] == hashed[3]
    assert len(set(hashed[[0, 1, 2, 5, 6, 7]].tolist())) == 6
    assert np.array_equal(hash_text(values.slice(4, 3)), hashed[4:7])


def test_first_event_time_is_the_earliest_counted_even_out_of_order() -> None:
    rows = [event(s, user=7) for s in (74, 72, 73, 79)] + [event(71, user=7), event(70, user=7)]
    (alert,) = of(run(rows)[0], "reference")
    assert alert.first_event_time == T0 + timedelta(seconds=70)
    assert alert.detected_at_event_time == T0 + timedelta(seconds=79)


def test_only_the_chosen_detectors_run_and_unknown_names_are_refused() -> None:
    rows = [event(s * 0.5, user=7, agent=BOT) for s in range(12)]
    alerts, _ = run(rows, settings=StreamSettings(detectors=["reference"]))
    assert {a.detector for a in alerts} == {"reference"}
    with pytest.raises(ValueError, match="unknown detectors"):
        StreamSettings(detectors=["reference", "tea_leaves"])


def test_alerts_serialize_to_json_ready_dicts() -> None:
    (alert,) = of(run([event(s, user=7) for s in range(6)])[0], "reference")
    row = alert.as_dict()
    assert row["window_start"] == "2024-05-16T12:00:00+00:00" and row["count"] == 6
