"""The registry file agent-services keeps (`data/registry.json`), read for `vm-registry import`.

agent-services holds its registry in memory and saves it whole as `{"vms": [entry, ...]}`, each
entry in the contract's shape: the registration's fields plus `registeredAt` and `lastSeen`
(ISO 8601 times). It never checked `services` or `metadata`, so a file may hold entries this
registry would refuse at its door. Each entry is checked by the same rules as a registration
(`bodies.registration`), one at a time: an entry that fails is left out with the reason, and
the others are still taken. Only a file that is not such a document at all is refused whole.

Times are taken as recorded, with two checks: `lastSeen` may not precede `registeredAt`, and
neither may lie ahead of the importing machine's clock by more than `FUTURE_SLACK_MS` (a copy
from a machine whose clock runs a little ahead is taken at "now"). A time far in the future
would hold every later event of the log at that time, since the log's times never go back.

A value quoted in a reason is cut to `QUOTED` characters: a reason is one line of the report,
and a file may hold a time or an id of megabytes.

The file is refused whole when a key repeats in one of its objects: agent-services writes it
with `JSON.stringify`, which never repeats one, so such a file was edited or damaged, and
taking the last of the two (as a parser does) would import something nobody can point to.

The file is read whole, and refused past `MAX_FILE_BYTES`. Reading its entries one by one would
not bound the import's memory: the entries are put in time order across the fleet and appended
in one transaction, so every one is held anyway, and a streaming parser would be a dependency
for nothing. agent-services keeps the file in memory and rewrites it whole 100 ms after each
change, so real files are kilobytes to a few megabytes; parsing multiplies a file's size about
2 to 5 times (docs/moving-from-agent-services.md has the figures), which keeps the limit's
worst case within a few hundred MiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from vm_registry.domain.errors import Invalid
from vm_registry.domain.model import JsonObject
from vm_registry.domain.timestamps import parse_iso, to_iso
from vm_registry.domain.validation import MAX_ENTRY_BYTES
from vm_registry.wire import bodies, duplicate_keys

TIMES: Final = ("registeredAt", "lastSeen")
FUTURE_SLACK_MS: Final = 60_000
QUOTED: Final = 64
MAX_FILE_BYTES: Final = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Taken:
    vm_id: str
    data: JsonObject  # a registration's event data, as `bodies.registration` gives it, no id
    registered_at: int
    last_seen: int


@dataclass(frozen=True, slots=True)
class Refused:
    index: int  # the entry's place in the file's `vms`, from 1
    vm_id: str | None  # when the entry has a usable one
    reason: str

    def describe(self) -> str:
        which = f"entry {self.index}"
        if self.vm_id is not None:
            which += f" (id {quoted(self.vm_id)})"
        return f"{which}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Reading:
    taken: list[Taken]
    refused: list[Refused]

    @property
    def entries(self) -> int:
        return len(self.taken) + len(self.refused)


def read(raw: bytes, now: int, max_entry_bytes: int = MAX_ENTRY_BYTES) -> Reading:
    """Every entry of the file, taken or refused with its reason. Raises `Invalid` when the
    file is not agent-services' registry document, is larger than `MAX_FILE_BYTES`, or repeats
    a key."""
    if len(raw) > MAX_FILE_BYTES:
        raise Invalid(
            f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB, the most import reads "
            "(agent-services' own files are far smaller: is this its data/registry.json?)"
        )
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise Invalid(f"the file is not JSON ({error})") from None
    duplicate_keys.refuse_duplicate_keys(raw, document, "the file", deep_refused_later=False)
    if not isinstance(document, dict) or not isinstance(document.get("vms"), list):
        raise Invalid('the file is not an agent-services registry: expected {"vms": [...]}')
    taken: list[Taken] = []
    refused: list[Refused] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(document["vms"], start=1):
        try:
            entry = _entry(item, now, max_entry_bytes)
        except Invalid as error:
            refused.append(Refused(index, _id_of(item), error.message))
            continue
        first = seen.setdefault(entry.vm_id, index)
        if first != index:
            refused.append(Refused(index, entry.vm_id, f"the id is already entry {first}'s"))
            continue
        taken.append(entry)
    return Reading(taken, refused)


def _entry(item: Any, now: int, max_entry_bytes: int) -> Taken:
    if not isinstance(item, dict):
        raise Invalid("an entry must be a JSON object")
    missing = [key for key in TIMES if key not in item]
    if missing:
        raise Invalid(f"{' and '.join(missing)} missing: not an entry agent-services saved")
    registered_at, last_seen = (_time(item[key], key, now) for key in TIMES)
    if last_seen < registered_at:
        raise Invalid(
            f"lastSeen {to_iso(last_seen)} is before registeredAt {to_iso(registered_at)}"
        )
    body = {key: value for key, value in item.items() if key not in TIMES}
    data = bodies.registration(body, max_entry_bytes)
    return Taken(data.pop("id"), data, registered_at, last_seen)


def _time(value: Any, where: str, now: int) -> int:
    if not isinstance(value, str):
        raise Invalid(f"{where} must be an ISO 8601 time")
    try:
        at = parse_iso(value)
    except ValueError:
        raise Invalid(f"{where} {quoted(value)} is not an ISO 8601 time") from None
    if at < 0:
        raise Invalid(f"{where} {quoted(value)} is before 1970")
    if at > now + FUTURE_SLACK_MS:
        raise Invalid(f"{where} {quoted(value)} is in the future (this machine's clock says "
                      f"{to_iso(now)})")  # fmt: skip
    return min(at, now)


def quoted(value: str) -> str:
    if len(value) <= QUOTED:
        return repr(value)
    return f"{value[:QUOTED]!r}... ({len(value)} characters)"


def _id_of(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"].strip():
        return str(item["id"]).strip()
    return None
