// The log as it happens: the latest events, newest first. Heartbeats are hidden unless asked
// for (a fleet sends them all the time and would drown everything else); hiding is a style on
// the list, so ticking the box also shows the heartbeats that came before.
//
// The feed's snapshot carries the fleet, not its history, so on the first snapshot the list is
// filled from the log (`/registry/events`) with the events up to the snapshot's revision: the
// page opens on the latest KEEP events, not on an empty list. Live events go above them.

import { getJson } from "./api.js";
import { actor, clock, element } from "./format.js";

const KEEP = 200;
const KEEP_SNAPSHOT_LINES = 3; // each resync says so in the list; the last few are enough

export class Ticker {
  constructor({ list, showHeartbeats, onTravel }) {
    this.list = list;
    this.filled = false;
    this.generation = 0; // moves on each clear(): a fill read before it is dropped
    const sync = () => list.classList.toggle("hide-heartbeats", !showHeartbeats.checked);
    showHeartbeats.addEventListener("change", sync);
    sync();
    list.addEventListener("click", (click) => {
      const item = click.target.closest("li[data-seq]");
      if (item) onTravel(Number(item.dataset.seq));
    });
  }

  item(event) {
    const item = element("li", `event ${event.type.replace(".", "-")}`);
    item.dataset.seq = String(event.seq);
    item.dataset.type = event.type;
    item.dataset.vm = event.vmId;
    item.title = `seq ${event.seq} at ${event.at}: click to see the fleet right after it`;
    item.append(
      element("time", "at", clock(event.at)),
      element("span", "type", event.type.replace("vm.", "")),
      element("span", "vm", event.vmId),
      element("span", "actor", actor(event.actor)),
    );
    item.querySelector("time").dateTime = event.at;
    return item;
  }

  add(event) {
    this.list.prepend(this.item(event));
    this.trim();
  }

  /** The events up to `revision` (the first snapshot's), read from the log, below the rest. */
  async fill(revision) {
    if (this.filled) return;
    this.filled = true;
    const generation = this.generation;
    if (revision === 0) return;
    let events;
    try {
      const after = Math.max(0, revision - KEEP);
      ({ body: { events } } = await getJson(`/registry/events?after=${after}&limit=${KEEP}`));
    } catch {
      return; // compacted past that point, or refused: the list starts with what comes live
    }
    if (generation !== this.generation) return; // cleared (token forgotten) while it was read
    const items = this.list.querySelectorAll("li[data-seq]");
    const shown = new Set([...items].map((li) => li.dataset.seq));
    const older = events.filter((e) => e.seq <= revision && !shown.has(String(e.seq)));
    for (const event of older.reverse()) this.list.append(this.item(event));
    this.trim();
  }

  trim() {
    const items = this.list.querySelectorAll("li[data-seq]");
    for (let i = KEEP; i < items.length; i++) items[i].remove();
    const lines = this.list.querySelectorAll("li.snapshot");
    for (let i = KEEP_SNAPSHOT_LINES; i < lines.length; i++) lines[i].remove();
  }

  /** Everything goes (the token that showed it was forgotten); the next snapshot fills again. */
  clear() {
    this.list.replaceChildren();
    this.filled = false;
    this.generation += 1;
  }

  /** A fresh snapshot: said in the list, so a resync is never silent. */
  snapshot(revision, count) {
    const item = element("li", "event snapshot");
    item.append(element("span", "type", `snapshot: ${count} VMs at revision ${revision}`));
    this.list.prepend(item);
    this.trim();
  }
}
