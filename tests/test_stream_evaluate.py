"""End to end: the simulator's clickstream replayed through the processor, scored against its truth."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from c360.simulate import generate
from c360.stream.evaluate import Episode, evaluate_simulation, incidents, score
from c360.stream.processor import Alert
from c360.stream.replay import replay
from tests.test_stream import BOT, COLUMNS, T0, event, run

HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0"


@pytest.mark.parametrize("seed", [42, 7])
def test_simulated_attacks_are_caught_with_high_precision_and_recall(tmp_path: Path, seed: int) -> None:
    generate(2000, seed, tmp_path)
    report = evaluate_simulation(tmp_path)
    assert report["episodes"] == 6 and report["missed"] == []
    assert report["recall"] >= 0.99
    assert report["precision"] >= 0.99, report["false_alerts_by_detector"]  # strict: the attacker's own key
    assert report["incident_precision"] >= 0.99 and report["lenient_precision"] >= 0.99
    assert report["median_seconds_to_detect"] <= 10
    assert report["late_dropped"] > 0  # the simulator's late arrivals are seen and dropped
    assert report["rejected"]  # and its broken lines rejected with reasons


def test_replay_paces_event_time_by_the_speed_factor(tmp_path: Path) -> None:
    rows = [event(s, user=7) for s in (0, 1, 2)]
    path = tmp_path / "events.csv"
    lines = [",".join(COLUMNS)] + [",".join(f'"{r[c]}"' for c in COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    result = replay(path, speed=4.0)
    assert time.perf_counter() - started >= 0.45  # 2 s of event time at 4×
    assert result.counts.events == 3
    fast = replay(path)
    assert fast.counts.accepted == 3 and fast.alerts == []


# --- attribution: an alert names the actor, not a bystander that shares a key with it

NAT = "203.0.113.7"


def keys(alerts: list[Alert]) -> set[tuple[str, str]]:
    return {(a.key_type, a.key_value) for a in alerts}


def nat_with_one_abuser() -> list[dict[str, str]]:
    """Eight shoppers behind one address browsing normally, and one of them flooding in a session."""
    rows = [event(u * 2.5 + s * 20, user=500 + u, ip=NAT) for u in range(8) for s in range(3)]
    rows += [event(5 + s * 0.4, user=666, session="flood", ip=NAT) for s in range(50)]
    return sorted(rows, key=lambda r: r["event_time"])


def test_a_flood_behind_a_shared_address_names_the_flooding_session_not_the_address() -> None:
    alerts, _ = run(nat_with_one_abuser())
    assert {"ip_flood", "session_flood", "reference"} <= {a.detector for a in alerts}
    assert keys(alerts) == {("user_session", "flood")}  # not the NAT, not its other users


def test_attribution_does_not_depend_on_the_batching() -> None:
    rows = nat_with_one_abuser()
    whole, _ = run(rows)
    one_by_one, _ = run(*[[r] for r in rows])
    assert whole and sorted(map(repr, whole)) == sorted(map(repr, one_by_one))


def test_one_address_behind_many_accounts_is_named_as_the_address() -> None:
    rows = [event(a * 0.2 + s * 6, user=900 + a, ip="198.51.100.9") for a in range(30) for s in range(10)]
    rows += [
        event(61 + s, user=999, ip="198.51.100.9") for s in range(6)
    ]  # one account crosses the per-user rule
    alerts, _ = run(sorted(rows, key=lambda r: r["event_time"]))
    assert {a.detector for a in alerts} >= {"ip_flood", "reference"}
    assert keys(alerts) == {("ip", "198.51.100.9"), ("global", "*")}  # 306 events in a minute: a spike too


def test_a_session_hopping_addresses_is_its_account() -> None:
    ips = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    rows = [event(s * 0.25, user=42, session="s1", ip=ips[s % 3]) for s in range(40)]
    alerts, _ = run(rows)
    assert keys(alerts) == {("user_id", "42")}


def test_shoppers_of_a_product_under_a_distributed_flood_are_not_flagged() -> None:
    rows = [event(s * 5, user=3000 + s, ip=f"100.64.0.{s}", product=777) for s in range(40)]  # attackers
    rows += [event(s * 30 + 1, user=7000 + s, ip=f"192.168.1.{s}", product=777) for s in range(8)]  # shoppers
    alerts, _ = run(sorted(rows, key=lambda r: r["event_time"]))
    assert keys(alerts) == {("product_id", "777")}


def test_a_crawler_is_its_address_and_a_cart_bot_its_account() -> None:
    crawl = [event(s * 3, user=5, ip="7.7.7.7", product=s, agent=BOT) for s in range(12)]
    alerts, _ = run(crawl)
    assert {a.detector for a in alerts} == {"bot_agent", "bot_regular"}
    assert keys(alerts) == {("ip", "7.7.7.7")}
    churn = [
        event(s * 2, user=6, ip="8.8.4.4", kind="cart" if s % 2 == 0 else "remove_from_cart", agent=HEADLESS)
        for s in range(20)
    ]
    alerts, _ = run(churn)
    assert {"bot_agent", "bot_regular", "bot_cart_churn"} <= {a.detector for a in alerts}
    assert keys(alerts) == {("user_id", "6")}


# --- scoring


def _alert(key_type: str, key: str, minute: int, detector: str = "ip_flood") -> Alert:
    at = T0 + timedelta(minutes=minute)
    return Alert(detector, key_type, key, at, at + timedelta(seconds=30), at, at, "high", 26)


def test_precision_definitions() -> None:
    episode = Episode(
        "1", "flood_session", "user_session", "s1", T0, T0 + timedelta(minutes=5),
        {("user_session", "s1"), ("user_id", "42"), ("ip", "1.2.3.4")},
    )  # fmt: skip
    alerts = [
        _alert("user_session", "s1", 1),
        _alert("user_session", "s1", 2, "reference"),  # same key, two minutes later: the same incident
        _alert("user_id", "42", 1),  # the session's account: carried, not the attacker's key
        _alert("global", "*", 3, "global_spike"),
        _alert("ip", "9.9.9.9", 60),  # nothing going on then
    ]
    report = score(alerts, [episode])
    assert report["precision"] == 3 / 5  # the session twice, and the global spike
    assert report["lenient_precision"] == 4 / 5  # also the account the session carries
    assert report["incidents"] == 4 and report["incident_precision"] == 2 / 4
    assert (report["recall"], report["median_seconds_to_detect"]) == (1.0, 60.0)
    assert report["false_alerts_by_detector"] == {"ip_flood": 2}
    assert [len(g) for g in incidents(alerts)] == [1, 1, 1, 2]
