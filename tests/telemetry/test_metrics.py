"""`GET /metrics` against a real server, read with the Prometheus library's own parser: every
series the operations issue asks for is there, and the figures move with real traffic."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import yaml
from prometheus_client import CONTENT_TYPE_LATEST

from tests.api.conftest import new_id
from tests.conftest import vm
from tests.support.backend import ON_POSTGRES
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.server import ServerProcess
from tests.telemetry.scrape import names, scrape, value, wait_for

TOKEN = "metrics-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


guarded = server_fixture("metrics", "--snapshot-every", "5", env={"VERS_AUTH_TOKEN": TOKEN})


http = http_fixture("guarded", token=TOKEN)


def test_with_auth_on_metrics_need_a_token(guarded: ServerProcess) -> None:
    assert httpx.get(f"{guarded.url}/metrics").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.get(f"{guarded.url}/metrics", headers=wrong).status_code == 401


def test_the_content_type_is_prometheus_text_with_one_charset(http: httpx.Client) -> None:
    answer = http.get("/metrics")
    # The library's own content type for what it rendered, charset said once (it was twice).
    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    assert answer.headers["content-type"].count("charset") == 1


def test_every_series_of_the_issue_is_exposed(http: httpx.Client) -> None:
    http.get("/registry/vms")
    found = names(scrape(http))
    expected = {
        "vm_registry_http_requests_total",
        "vm_registry_http_request_duration_seconds_bucket",
        "vm_registry_writer_batch_size_bucket",
        "vm_registry_writer_commit_duration_seconds_bucket",
        "vm_registry_writer_queue_depth",
        "vm_registry_log_head_seq",
        "vm_registry_log_bytes",
        "vm_registry_fleet_vms",
        "vm_registry_fleet_stale_vms",
        "vm_registry_expiry_guard_holding",
        "vm_registry_feed_subscribers",
        "vm_registry_feed_frames_sent_total",
        "vm_registry_feed_catch_ups_total",
        "vm_registry_feed_gone_total",
        "vm_registry_feed_refused_total",
        # The library's default collectors.
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "python_info",
        "python_gc_collections_total",
    }
    assert expected <= found, expected - found
    replication = {"vm_registry_replica_lag_events", "vm_registry_leader"}
    if ON_POSTGRES:
        assert replication <= found, replication - found
    else:
        # A SQLite log has no replicas: those series are left out, not faked.
        assert not replication & found


def test_three_registered_vms_make_the_fleet_gauge_say_three(http: httpx.Client) -> None:
    before = scrape(http)
    assert value(before, "vm_registry_fleet_vms", role="golden", status="running") == 0
    for _ in range(3):
        assert http.post("/registry/vms", json=vm(new_id(), role="golden")).status_code == 201
    after = scrape(http)
    assert value(after, "vm_registry_fleet_vms", role="golden", status="running") == 3
    assert value(after, "vm_registry_fleet_vms", role="golden", status="stopped") == 0
    assert value(after, "vm_registry_log_head_seq") == http.get("/health").json()["revision"]
    assert value(after, "vm_registry_log_events_appended_total", type="vm.registered") == (
        value(before, "vm_registry_log_events_appended_total", type="vm.registered") + 3
    )
    submitted = "vm_registry_writer_commands_submitted_total"
    assert (
        value(after, submitted, command="register")
        == value(before, submitted, command="register") + 3
    )
    batches = "vm_registry_writer_batch_size_count"
    assert value(after, batches) >= value(before, batches) + 1
    assert value(after, "vm_registry_log_bytes") > 0


def test_the_log_bytes_grow_with_what_is_written(http: httpx.Client) -> None:
    """On either backend: the SQLite file and its WAL, or PostgreSQL's tables of the log."""
    before = value(scrape(http), "vm_registry_log_bytes")
    assert before > 0
    # Random text (nothing to compress), about 200 KB in all.
    metadata = {f"k{n}": os.urandom(500).hex() for n in range(4)}
    for _ in range(50):
        assert http.post("/registry/vms", json=vm(new_id(), metadata=metadata)).status_code == 201
    assert value(scrape(http), "vm_registry_log_bytes") > before + 100_000


def test_http_requests_are_counted_by_route_template_never_raw_path(http: httpx.Client) -> None:
    missing = new_id("missing")
    before = scrape(http)
    for _ in range(2):
        assert http.get(f"/registry/vms/{missing}").status_code == 404
    assert http.get("/no/such/route").status_code == 404
    assert http.head(f"/registry/vms/{missing}").status_code == 404
    after = scrape(http)
    requests = "vm_registry_http_requests_total"
    labels = {"route": "/registry/vms/{vm_id}", "method": "GET", "status": "404"}
    assert value(after, requests, **labels) == value(before, requests, **labels) + 2
    head = {"route": "/registry/vms/{vm_id}", "method": "HEAD", "status": "404"}
    assert value(after, requests, **head) == value(before, requests, **head) + 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, requests, **unmatched) == value(before, requests, **unmatched) + 1
    assert (
        value(
            after, "vm_registry_http_request_duration_seconds_count", route="/registry/vms/{vm_id}"
        )
        >= 2
    )
    every_label = {v for (_, labels_) in after for _, v in labels_}
    assert missing not in str(every_label)
    assert not any("/no/such" in label for label in every_label)


def test_refused_commands_are_counted_by_reason(http: httpx.Client) -> None:
    vm_id = new_id()
    assert http.post("/registry/vms", json=vm(vm_id)).status_code == 201
    before = scrape(http)
    assert http.post("/registry/vms", json=vm(vm_id)).status_code == 409
    assert http.post(f"/registry/vms/{new_id()}/heartbeat").status_code == 404
    after = scrape(http)
    refused = "vm_registry_writer_commands_refused_total"
    assert value(after, refused, reason="conflict") == value(before, refused, reason="conflict") + 1
    assert value(after, refused, reason="not_found") == (
        value(before, refused, reason="not_found") + 1
    )


def test_the_feed_figures_follow_a_real_stream(http: httpx.Client) -> None:
    before = scrape(http)
    with http.stream("GET", "/registry/stream") as stream:
        wait_for(lambda: value(scrape(http), "vm_registry_feed_subscribers") == 1)
        assert http.post("/registry/vms", json=vm(new_id())).status_code == 201
        for line in stream.iter_lines():
            if line.startswith("event: vm.registered"):
                break
    wait_for(lambda: value(scrape(http), "vm_registry_feed_subscribers") == 0)
    after = scrape(http)
    sent = "vm_registry_feed_frames_sent_total"
    assert value(after, sent) >= value(before, sent) + 1
    assert value(after, "vm_registry_http_requests_total", route="/registry/stream",
                 method="GET", status="200") >= 1  # fmt: skip


def test_snapshots_report_their_seq_and_age(http: httpx.Client) -> None:
    for _ in range(6):
        assert http.post("/registry/vms", json=vm(new_id())).status_code == 201
    wait_for(lambda: value(scrape(http), "vm_registry_snapshot_seq") > 0)
    samples = scrape(http)
    assert value(samples, "vm_registry_snapshot_seq") <= value(samples, "vm_registry_log_head_seq")
    assert 0 <= value(samples, "vm_registry_snapshot_age_seconds") < 600
    assert value(samples, "vm_registry_snapshot_behind_events") >= 0


public = server_fixture(
    "metrics-public",
    "--metrics-public", "--max-subscribers", "1", "--stale-after", "1",
    "--reap-interval", "0.2", "--feed-tail", "5",
    env={"VERS_AUTH_TOKEN": TOKEN},
)  # fmt: skip


def test_metrics_public_serves_metrics_without_a_token_and_nothing_else(
    public: ServerProcess,
) -> None:
    with httpx.Client(base_url=public.url, timeout=10) as anonymous:
        assert "vm_registry_fleet_vms" in names(scrape(anonymous))
        assert anonymous.get("/registry/vms").status_code == 401


def test_subscribers_refused_at_the_limit_are_counted(public: ServerProcess) -> None:
    with httpx.Client(base_url=public.url, timeout=10, headers=AUTH) as http:
        before = value(scrape(http), "vm_registry_feed_refused_total")
        with http.stream("GET", "/registry/stream"):
            wait_for(lambda: value(scrape(http), "vm_registry_feed_subscribers") == 1)
            assert http.get("/registry/stream").status_code == 503
        assert value(scrape(http), "vm_registry_feed_refused_total") == before + 1


def test_a_silent_vm_shows_in_the_stale_gauge(public: ServerProcess) -> None:
    with httpx.Client(base_url=public.url, timeout=10, headers=AUTH) as http:
        assert http.post("/registry/vms", json=vm(new_id(), role="lieutenant")).status_code == 201
        # Past the startup grace and the stale window, the reaper marks it.
        wait_for(
            lambda: value(scrape(http), "vm_registry_fleet_stale_vms", role="lieutenant") == 1,
            timeout=15,
        )
        samples = scrape(http)
        assert value(samples, "vm_registry_fleet_vms", role="lieutenant", status="running") == 1
        assert value(samples, "vm_registry_expiry_guard_holding") == 0


def test_a_resume_point_behind_the_tail_counts_a_catch_up(public: ServerProcess) -> None:
    with httpx.Client(base_url=public.url, timeout=10, headers=AUTH) as http:
        for _ in range(8):  # more than the five events the tail keeps
            assert http.post("/registry/vms", json=vm(new_id())).status_code == 201
        before = value(scrape(http), "vm_registry_feed_catch_ups_total")
        with http.stream("GET", "/registry/stream", params={"after": 0}) as stream:
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    break
        assert value(scrape(http), "vm_registry_feed_catch_ups_total") == before + 1


DOCS = Path(__file__).resolve().parents[2] / "docs"
SHARED_LOG_ONLY = {"vm_registry_replica_lag_events", "vm_registry_leader"}


def family(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        name = name.removesuffix(suffix)
    return name


def test_the_alert_rules_in_the_docs_parse_and_use_only_series_that_exist(
    http: httpx.Client,
) -> None:
    text = (DOCS / "operations.md").read_text()
    rules_yaml = text.split("# vm-registry.rules.yml", 1)[1].split("```", 1)[0]
    rules = yaml.safe_load(rules_yaml)["groups"][0]["rules"]
    assert {"VmRegistryStalenessSpike", "VmRegistryWriter503s", "VmRegistryReplicaLag",
            "VmRegistryFeedSubscribersFallBehind"} <= {r["alert"] for r in rules}  # fmt: skip
    exposed = {family(name) for name in names(scrape(http))}
    for rule in rules:
        used = {family(name) for name in re.findall(r"vm_registry_[a-z_]+", rule["expr"])}
        assert used <= exposed | SHARED_LOG_ONLY, (rule["alert"], used - exposed)


def test_every_series_served_is_documented(http: httpx.Client) -> None:
    documented = "".join(path.read_text() for path in DOCS.glob("*.md"))
    for name in {family(name) for name in names(scrape(http))}:
        if name.startswith("vm_registry_"):
            assert name in documented, f"{name} is served but not documented in docs/"
