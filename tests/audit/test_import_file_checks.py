"""`vm-registry import` took the last of two equal keys in silence (as the JSON parser does)
and read its whole file into memory however large, even `/dev/zero`. Now a file that repeats a
key in any object is refused whole with one line naming the key, and a file past 64 MiB (far
past any file agent-services writes) is refused after reading one byte more than that; in both
cases nothing is imported. Run as a user runs it, on the suite's backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.audit.test_import import fleet, imports, now_ms, write_seed
from tests.support import backend
from vm_registry.wire.agent_services import MAX_FILE_BYTES


def _nothing_imported(db: Path, source: Path) -> None:
    if not backend.ON_POSTGRES:
        assert not db.exists()
    else:  # the log is still empty: a good file imports into it
        assert imports(write_seed(source, fleet(now_ms())), db).returncode == 0


def _entry_text(entry: dict[str, object]) -> str:
    return json.dumps(entry)[1:-1]  # the members, without the braces


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("entry", "role"),  # `"role": "worker", ..., "role": "infra"`: which one did they mean?
        ("metadata", "task"),
        ("top", "vms"),  # a second fleet after the first
    ],
)
def test_a_file_that_repeats_a_key_is_refused_whole_naming_the_key(
    tmp_path: Path, where: str, key: str
) -> None:
    first, second = fleet(now_ms())[:2]
    if where == "entry":
        text = f'{{"vms": [{{{_entry_text(first)}, "role": "infra"}}, {json.dumps(second)}]}}'
    elif where == "metadata":
        members = _entry_text({**first, "metadata": None}).replace(
            '"metadata": null', '"metadata": {"task": "a", "task": "b"}'
        )
        text = f'{{"vms": [{json.dumps(second)}, {{{members}}}]}}'
    else:
        text = f'{{"vms": [{json.dumps(first)}], "vms": [{json.dumps(second)}]}}'
    source = tmp_path / "registry.json"
    source.write_text(text)
    db = tmp_path / "registry.db"
    done = imports(source, db)
    assert done.returncode == 2, done.stdout
    assert done.stderr == (f"vm-registry: {source}: the file has the key {key!r} more than once\n")
    assert done.stdout == ""
    _nothing_imported(db, source)


def test_a_file_past_the_size_limit_is_refused_though_it_is_a_good_registry(
    tmp_path: Path,
) -> None:
    source = tmp_path / "registry.json"
    with source.open("w") as out:
        out.write(json.dumps({"vms": fleet(now_ms())}))
        out.write(" " * (MAX_FILE_BYTES + 1))  # whitespace after the document is still JSON
    db = tmp_path / "registry.db"
    done = imports(source, db)
    assert done.returncode == 2, done.stdout
    assert "the file is larger than 64 MiB, the most import reads" in done.stderr
    assert done.stderr.count("\n") == 1
    _nothing_imported(db, source)


def test_an_endless_file_is_read_only_to_the_limit(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    done = imports(Path("/dev/zero"), db)
    assert done.returncode == 2
    assert "/dev/zero: the file is larger than 64 MiB" in done.stderr
    _nothing_imported(db, tmp_path / "registry.json")
