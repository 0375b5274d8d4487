// The fleet table: a mirror of the registry kept by the feed, or a fleet from the past.
//
// Rows are keyed by VM id and rebuilt only when their entry changed, and the table is drawn at
// most every RENDER_MS however fast events arrive, so a busy fleet does not freeze the tab.
// New, changed and removed rows keep a mark for MARK_MS; a removed row stays, struck out, for
// that long before it leaves.

import { ago, duration, element } from "./format.js";

const MARK_MS = 3000;
const RENDER_MS = 200;
const MAX_ROWS = 1000; // beyond that, the filters are the way to find a VM

export const ROLES = ["infra", "lieutenant", "worker", "golden", "custom"];
export const STATUSES = ["running", "paused", "stopped"];

function byNewest(a, b) {
  if (a.registeredAt !== b.registeredAt) return a.registeredAt < b.registeredAt ? 1 : -1;
  return a.id < b.id ? -1 : 1;
}

const haystacks = new WeakMap();
function haystack(vm) {
  let text = haystacks.get(vm);
  if (text === undefined) {
    const parts = [vm.id, vm.name, vm.role, vm.status, vm.address, vm.registeredBy];
    for (const s of vm.services || []) parts.push(s.name, String(s.port), s.healthPath || "");
    if (vm.metadata) parts.push(JSON.stringify(vm.metadata));
    for (const status of Object.values(vm.health || {})) parts.push(status);
    text = parts.join(" ").toLowerCase();
    haystacks.set(vm, text);
  }
  return text;
}

/** A cell that may be cut short on screen (an ellipsis): its whole text is its tooltip. */
function clipped(className, text) {
  const cell = element("td", className, text);
  cell.title = text;
  return cell;
}

/** What an empty registry says: how a VM gets into it, in commands that work as shown. */
function howToRegister() {
  const curl =
    `curl -X POST ${location.origin}/registry/vms -H 'Content-Type: application/json' ` +
    `-d '{"id": "vm-1", "name": "first", "role": "worker", "address": "vm-1.vm.vers.sh", ` +
    `"registeredBy": "me"}'`;
  const cli =
    "vm-registry register --id vm-1 --name first --role worker --address vm-1.vm.vers.sh " +
    "--registered-by me";
  return [
    "No VMs registered yet. Agents register their own VM (with vm-registry agent, or the " +
      "agent-services extension); to register one by hand:",
    element("code", "", curl),
    "or, from the clone (.venv/bin/vm-registry, or after . .venv/bin/activate):",
    element("code", "", cli),
  ];
}

/** Each service as "name:port", with its health check's verdict where one ran (vm.health). */
function servicesCell(vm) {
  const cell = element("td", "services");
  cell.title = (vm.services || []).map((s) => `${s.name}:${s.port}`).join(", ");
  const health = vm.health || {};
  (vm.services || []).forEach((service, index) => {
    if (index > 0) cell.append(", ");
    const status = health[service.name];
    const span = element("span", `svc ${status || "unchecked"}`, `${service.name}:${service.port}`);
    span.title = status ? `health check: ${status}` : "no health check";
    if (status === "critical") span.append(" ✗");
    cell.append(span);
  });
  return cell;
}

export class FleetView {
  constructor({ tbody, counts, note, onOpen, onFilter }) {
    this.tbody = tbody;
    this.countsBox = counts;
    this.note = note;
    this.onFilter = onFilter;
    this.live = new Map(); // id -> entry, as the feed says it is now
    this.leaving = new Map(); // id -> entry deregistered less than MARK_MS ago
    this.marks = new Map(); // id -> {kind, until}
    this.past = null; // Map id -> entry while showing an earlier fleet
    this.rows = new Map(); // id -> {tr, vm, mark}
    // `selected`: the ids matching the selector box (the server decides), or null for none.
    this.filter = { role: "", status: "", text: "", selected: null };
    this.timer = null;
    // Until the first snapshot the page knows nothing of the fleet, and must not call it
    // empty (behind the token prompt it has VMs it may not show yet): `waiting` says why.
    this.loaded = false;
    this.waiting = "Connecting to the registry…";
    tbody.addEventListener("click", (click) => {
      const tr = click.target.closest("tr[data-id]");
      if (tr) onOpen(tr.dataset.id);
    });
    tbody.addEventListener("keydown", (key) => {
      const tr = key.target.closest("tr[data-id]");
      if (tr && key.key === "Enter") onOpen(tr.dataset.id);
    });
    setInterval(() => this.refreshTimes(), 1000);
  }

  snapshot(vms) {
    this.loaded = true;
    this.live = new Map(vms.map((vm) => [vm.id, vm]));
    this.leaving.clear();
    this.marks.clear();
    this.schedule();
  }

  /** Forget the fleet (the token that showed it is gone); `reason` is what the note says. */
  forget(reason) {
    this.snapshot([]);
    this.loaded = false;
    this.waiting = reason;
  }

  /** The page cannot see the fleet yet (no token, or a refused one). */
  wait(reason) {
    this.waiting = reason;
    this.schedule();
  }

  event(event) {
    const { vmId, vm, type } = event;
    if (vm === null) {
      const gone = this.live.get(vmId);
      this.live.delete(vmId);
      if (gone) {
        this.leaving.set(vmId, gone);
        this.mark(vmId, "removed", () => this.leaving.delete(vmId));
      }
    } else {
      this.leaving.delete(vmId);
      this.live.set(vmId, vm);
      const kind = { "vm.registered": "new", "vm.heartbeat": "beat" }[type] || "changed";
      // A heartbeat only refreshes "last seen": it must not hide a fresher "new" mark.
      if (kind !== "beat" || !this.marks.has(vmId)) this.mark(vmId, kind);
    }
    this.schedule();
  }

  mark(id, kind, then) {
    const until = Date.now() + MARK_MS;
    this.marks.set(id, { kind, until });
    setTimeout(() => {
      if (this.marks.get(id)?.until !== until) return;
      this.marks.delete(id);
      then?.();
      this.schedule();
    }, MARK_MS);
  }

  showPast(vms) {
    this.past = new Map(vms.map((vm) => [vm.id, vm]));
    this.schedule();
  }

  showLive() {
    this.past = null;
    this.schedule();
  }

  setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    this.schedule();
  }

  schedule() {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.render();
    }, RENDER_MS);
  }

  entries() {
    if (this.past) return [...this.past.values()];
    return [...this.live.values(), ...this.leaving.values()];
  }

  admits(vm) {
    const { role, status, text, selected } = this.filter;
    if (selected && !selected.has(vm.id)) return false;
    if (role && vm.role !== role) return false;
    if (status === "stale" ? !vm.stale : status && vm.status !== status) return false;
    return !text || haystack(vm).includes(text.toLowerCase());
  }

  render() {
    const all = this.entries();
    const shown = all.filter((vm) => this.admits(vm)).sort(byNewest);
    const trs = shown.slice(0, MAX_ROWS).map((vm) => this.row(vm));
    this.tbody.replaceChildren(...trs);
    for (const id of this.rows.keys()) {
      if (!this.live.has(id) && !this.leaving.has(id) && !this.past?.has(id)) this.rows.delete(id);
    }
    if (!this.past && !this.loaded) {
      this.countsBox.replaceChildren();
      this.note.textContent = this.waiting;
      return;
    }
    this.renderCounts(all);
    const removed = this.past ? 0 : this.leaving.size;
    const total = all.length - removed;
    let note = `${total} VM${total === 1 ? "" : "s"}`;
    if (shown.length !== all.length) note += `, ${shown.length} shown`;
    if (shown.length > MAX_ROWS) note += ` (the first ${MAX_ROWS}: narrow the filters)`;
    if (total === 0 && removed === 0) {
      if (this.past) this.note.textContent = "No VMs were registered then.";
      else this.note.replaceChildren(...howToRegister());
    } else {
      this.note.textContent = note;
    }
  }

  row(vm) {
    const mark = this.past ? null : this.marks.get(vm.id)?.kind || null;
    const cached = this.rows.get(vm.id);
    if (cached && cached.vm === vm && cached.mark === mark) return cached.tr;
    const tr = element("tr");
    tr.dataset.id = vm.id;
    const critical = Object.values(vm.health || {}).includes("critical");
    tr.className = [vm.stale ? "stale" : "", critical ? "critical" : "", mark ? `mark-${mark}` : ""]
      .join(" ")
      .trim();
    tr.title = "click (or Enter) for this VM's history";
    tr.tabIndex = 0;
    const status = element("td", "status");
    status.append(element("span", `badge ${vm.status}`, vm.status));
    if (vm.stale) status.append(" ", element("span", "badge stale", "stale"));
    if (mark === "removed") status.append(" ", element("span", "badge removed", "removed"));
    tr.append(
      clipped("id", vm.id),
      clipped("name", vm.name),
      element("td", "role", vm.role),
      status,
      clipped("address", vm.address),
      servicesCell(vm),
      element("td", "seen", ago(vm.lastSeen)),
      element("td", "age", duration(Date.now() - Date.parse(vm.registeredAt))),
    );
    tr.cells[6].title = vm.lastSeen;
    tr.cells[7].title = `registered ${vm.registeredAt} by ${vm.registeredBy}`;
    this.rows.set(vm.id, { tr, vm, mark });
    return tr;
  }

  refreshTimes() {
    if (this.past) return; // an earlier fleet's times are as they were then
    const now = Date.now();
    for (const { tr, vm } of this.rows.values()) {
      if (!tr.isConnected) continue;
      tr.cells[6].textContent = ago(vm.lastSeen, now);
      tr.cells[7].textContent = duration(now - Date.parse(vm.registeredAt));
    }
  }

  renderCounts(all) {
    const present = this.past ? all : all.filter((vm) => !this.leaving.has(vm.id));
    const tally = new Map();
    for (const vm of present) {
      tally.set(vm.role, (tally.get(vm.role) || 0) + 1);
      tally.set(vm.status, (tally.get(vm.status) || 0) + 1);
      if (vm.stale) tally.set("stale", (tally.get("stale") || 0) + 1);
    }
    const chip = (label, filter, extra = "") => {
      const n = label === "all" ? present.length : tally.get(label) || 0;
      const button = element("button", `chip ${extra}`.trim(), `${label} ${n}`);
      button.type = "button";
      button.dataset.count = label;
      button.dataset.value = String(n);
      button.title = `show ${label === "all" ? "every VM" : label}`;
      button.addEventListener("click", () => this.onFilter(filter));
      return button;
    };
    const chips = [chip("all", { role: "", status: "" })];
    for (const role of ROLES) if (tally.has(role)) chips.push(chip(role, { role }, "role"));
    for (const status of STATUSES) {
      if (tally.has(status)) chips.push(chip(status, { status }, status));
    }
    chips.push(chip("stale", { status: "stale" }, "stale"));
    this.countsBox.replaceChildren(...chips);
  }
}
