// The log as it happens: the latest events, newest first. Heartbeats are hidden unless asked
// for (a fleet sends them all the time and would drown everything else); hiding is a style on
// the list, so ticking the box also shows the heartbeats that came before.

import { actor, clock, element } from "./format.js";

const KEEP = 200;

export class Ticker {
  constructor({ list, showHeartbeats, onTravel }) {
    this.list = list;
    const sync = () => list.classList.toggle("hide-heartbeats", !showHeartbeats.checked);
    showHeartbeats.addEventListener("change", sync);
    sync();
    list.addEventListener("click", (click) => {
      const item = click.target.closest("li[data-seq]");
      if (item) onTravel(Number(item.dataset.seq));
    });
  }

  add(event) {
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
    this.list.prepend(item);
    while (this.list.childElementCount > KEEP) this.list.lastElementChild.remove();
  }

  /** A fresh snapshot: said in the list, so a resync is never silent. */
  snapshot(revision, count) {
    const item = element("li", "event snapshot");
    item.append(element("span", "type", `snapshot: ${count} VMs at revision ${revision}`));
    this.list.prepend(item);
  }
}
