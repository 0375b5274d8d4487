// One VM's history, from `/registry/vms/{id}/history`, in a dialog: every event of that id,
// across deregistrations and re-registrations, newest first.

import { getJson, Unauthorized } from "./api.js";
import { actor, element } from "./format.js";

const PAGE = 1000;
// Up to 50,000 events, fewer when pages end early at 4 MiB of event data; a VM with more is told so.
const MAX_PAGES = 50;

export class HistoryPanel {
  constructor({ dialog, title, rows, note, showHeartbeats, close, onUnauthorized }) {
    Object.assign(this, { dialog, title, rows, note, onUnauthorized });
    const table = rows.closest("table");
    const sync = () => table.classList.toggle("hide-heartbeats", !showHeartbeats.checked);
    showHeartbeats.addEventListener("change", sync);
    sync();
    close.addEventListener("click", () => dialog.close());
    this.opened = 0;
  }

  async open(id) {
    const ticket = ++this.opened;
    this.title.textContent = id;
    this.rows.replaceChildren();
    this.note.textContent = "loading…";
    if (!this.dialog.open) this.dialog.showModal();
    const events = [];
    let after = null;
    let complete = false;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const query = new URLSearchParams({ limit: String(PAGE) });
        if (after !== null) query.set("after", String(after));
        const { body } = await getJson(`/registry/vms/${encodeURIComponent(id)}/history?${query}`);
        if (ticket !== this.opened) return;
        events.push(...body.events);
        if (body.count === 0) {
          complete = true;
          break;
        }
        after = body.next;
      }
    } catch (error) {
      if (ticket !== this.opened) return;
      if (error instanceof Unauthorized) {
        this.dialog.close();
        this.onUnauthorized(error.message);
        return;
      }
      this.note.textContent = `could not read the history: ${error.message}`;
      return;
    }
    const shown = events.reverse().map((event) => this.row(event));
    this.rows.replaceChildren(...shown);
    this.note.textContent = complete
      ? `${events.length} events`
      : `the first ${events.length} events (more exist: see /registry/vms/${id}/history)`;
  }

  row(event) {
    const tr = element("tr", `event ${event.type.replace(".", "-")}`);
    tr.dataset.seq = String(event.seq);
    tr.dataset.type = event.type;
    const data = Object.keys(event.data || {}).length ? JSON.stringify(event.data) : "";
    tr.append(
      element("td", "seq", String(event.seq)),
      element("td", "at", event.at),
      element("td", "type", event.type),
      element("td", "actor", actor(event.actor)),
      element("td", "data", data),
    );
    tr.cells[3].title = JSON.stringify(event.actor);
    return tr;
  }
}
