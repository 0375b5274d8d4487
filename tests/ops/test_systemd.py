"""ops/systemd/vm-registry.service: systemd's own checker, and the hardening the unit promises.

`systemd-analyze verify` needs the unit's executable to exist, so it checks a copy whose
ExecStart points at this checkout's `vm-registry`; everything else is the file as shipped.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.nginx import REPO

UNIT = REPO / "ops" / "systemd" / "vm-registry.service"
INSTALLED = "/opt/vm-registry/bin/vm-registry"


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (it comes with systemd)")
    return found


def _checkable_copy(tmp_path: Path) -> Path:
    executable = Path(sys.executable).with_name("vm-registry")
    if not executable.exists():
        pytest.skip(f"no {executable} to stand in for {INSTALLED}")
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED} serve" in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED, str(executable)))
    return copy


def _service() -> configparser.SectionProxy:
    # Repeated keys (two SystemCallFilter= lines) are legal in units: keep the last.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    checked = subprocess.run(
        [_analyze(), "verify", "--man=no", str(_checkable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if checked.returncode != 0 and "Failed to" in checked.stderr and "bus" in checked.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {checked.stderr.strip()}")
    # Unknown or misspelt keys are only warnings to systemd: here they fail.
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.strip() == "", checked.stderr


def test_systemd_rates_the_unit_well_hardened(tmp_path: Path) -> None:
    checked = subprocess.run(
        [_analyze(), "security", "--offline=true", str(_checkable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", checked.stdout)
    if level is None:
        pytest.skip(f"systemd-analyze security --offline is not available: {checked.stderr}")
    # 0 is a sandbox, 10 is none; 2 or less is systemd's "OK" band.
    assert float(level.group(1)) <= 2.0, checked.stdout


def test_the_unit_has_the_promised_settings() -> None:
    service = _service()
    assert service["DynamicUser"] == "yes"
    assert service["StateDirectory"] == "vm-registry"
    assert service["Environment"]  # the log goes in the state directory
    assert "VM_REGISTRY_DB=/var/lib/vm-registry/" in UNIT.read_text()
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    # Longer than the drain: streams end in ~1 s, uvicorn waits up to 3 s, then a snapshot.
    assert int(service["TimeoutStopSec"]) >= 10
