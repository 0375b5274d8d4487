"""ops/container: what can be checked without a container engine (none runs here)."""

from __future__ import annotations

import re

import yaml

from tests.ops.nginx import REPO

FOLDER = REPO / "ops" / "container"


def _instructions() -> list[tuple[str, str]]:
    text = (FOLDER / "Containerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_image_is_multi_stage_and_runs_as_non_root() -> None:
    steps = _instructions()
    stages = [rest for keyword, rest in steps if keyword == "FROM"]
    assert len(stages) == 2 and stages[0].endswith("AS build")
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    assert ("COPY", "--from=build /opt/vm-registry /opt/vm-registry") in final
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and not users[-1].startswith(("root", "0"))


def test_the_log_is_on_a_volume_and_health_is_checked() -> None:
    steps = dict(_instructions()[::-1])  # the first occurrence of each keyword wins
    database = re.search(r"VM_REGISTRY_DB=(\S+)", (FOLDER / "Containerfile").read_text())
    assert database
    volumes = re.findall(r'"([^"]+)"', steps["VOLUME"])
    assert any(database.group(1).startswith(volume + "/") for volume in volumes)
    assert "/health" in steps["HEALTHCHECK"]
    assert steps["STOPSIGNAL"] == "SIGTERM"


def test_compose_runs_three_replicas_on_postgresql_behind_nginx() -> None:
    compose = yaml.safe_load((FOLDER / "compose.yaml").read_text())
    services = compose["services"]
    replicas = [name for name in services if name.startswith("registry-")]
    assert len(replicas) == 3
    for name in replicas:
        command = services[name]["command"]
        assert command[:2] == ["serve", "--db"]
        assert command[2].startswith("postgresql://") and "@postgres:" in command[2]
        user = command[2].removeprefix("postgresql://").partition("@")[0]
        assert ":" not in user, "a password in the URL shows in ps; use PGPASSWORD"
        assert "PGPASSWORD" in services[name]["environment"]
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    nginx = services["nginx"]
    assert set(nginx["depends_on"]) == set(replicas)
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    upstream = (FOLDER / "nginx.conf").read_text()
    for name in replicas:
        assert f"server {name}:3000" in upstream
