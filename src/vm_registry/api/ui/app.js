// The dashboard: wires the feed to the fleet table, the ticker, the history dialog, time travel
// and the token form. Served by the registry at /ui (src/vm_registry/api/routes/ui.py).

import { forgetToken, setToken, token } from "./api.js";
import { Feed } from "./feed.js";
import { FleetView } from "./fleet.js";
import { HistoryPanel } from "./history.js";
import { Selection } from "./selection.js";
import { Ticker } from "./ticker.js";
import { TimeTravel } from "./travel.js";

const $ = (id) => document.getElementById(id);

const STATES = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  unauthorized: "needs a token",
};

function showState(name, detail) {
  const badge = $("connection");
  badge.dataset.state = name;
  badge.textContent = STATES[name] || name;
  badge.title = detail || "";
  $("reconnect-now").hidden = name !== "reconnecting";
}

const NEEDS_TOKEN = "The fleet shows once a token is accepted.";

function askForToken(message) {
  showState("unauthorized", message);
  $("login").hidden = false;
  $("main").inert = true;
  $("login-error").textContent = token() ? message : "";
  $("forget-token").hidden = !token();
  fleet.wait(NEEDS_TOKEN);
  $("token-input").focus();
}

function filtersFromForm() {
  return {
    role: $("filter-role").value,
    status: $("filter-status").value,
    text: $("filter-text").value.trim(),
  };
}

const fleet = new FleetView({
  tbody: $("vms").tBodies[0],
  counts: $("counts"),
  note: $("fleet-note"),
  onOpen: (id) => panel.open(id),
  onFilter: (filter) => {
    if ("role" in filter) $("filter-role").value = filter.role;
    if ("status" in filter) $("filter-status").value = filter.status;
    fleet.setFilter(filtersFromForm());
  },
});

const travel = new TimeTravel({
  form: $("travel"),
  input: $("travel-time"),
  live: $("travel-live"),
  banner: $("travel-banner"),
  reach: $("travel-reach"),
  fleet,
  onUnauthorized: askForToken,
});
travel.refreshReach();

const ticker = new Ticker({
  list: $("events"),
  showHeartbeats: $("show-heartbeats"),
  onTravel: (seq) => travel.toSeq(seq),
});

const panel = new HistoryPanel({
  dialog: $("history"),
  title: $("history-vm"),
  rows: $("history-rows"),
  note: $("history-note"),
  showHeartbeats: $("history-heartbeats"),
  close: $("history-close"),
  onUnauthorized: askForToken,
});

const feed = new Feed({
  snapshot({ revision, vms }) {
    fleet.snapshot(vms);
    ticker.snapshot(revision, vms.length);
    ticker.fill(revision);
    $("revision").textContent = `revision ${revision}`;
  },
  event(event) {
    fleet.event(event);
    ticker.add(event);
    $("revision").textContent = `revision ${event.seq}`;
  },
  state: showState,
  unauthorized(message) {
    askForToken(message);
  },
});

$("filters").addEventListener("input", () => fleet.setFilter(filtersFromForm()));

const selection = new Selection(
  (ids) => fleet.setFilter({ selected: ids }),
  (message) => {
    $("selector-error").textContent = message;
  },
);
let selectorTimer = null;
$("filter-selector").addEventListener("input", () => {
  clearTimeout(selectorTimer); // ask the server once the operator pauses typing
  selectorTimer = setTimeout(() => selection.set($("filter-selector").value.trim()), 300);
});
$("filters").addEventListener("submit", (submit) => submit.preventDefault());

$("token-form").addEventListener("submit", (submit) => {
  submit.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) return;
  setToken(value);
  $("token-input").value = "";
  $("login").hidden = true;
  $("main").inert = false;
  $("forget-token").hidden = false;
  feed.start();
  travel.refreshReach();
});

$("forget-token").addEventListener("click", () => {
  forgetToken();
  feed.stop();
  // What the token let this tab see goes with it; a new token starts from a fresh snapshot.
  feed.seq = null;
  travel.back();
  fleet.forget(NEEDS_TOKEN);
  ticker.clear();
  $("revision").textContent = "";
  askForToken("token forgotten");
});

$("reconnect-now").addEventListener("click", () => feed.wake());

$("forget-token").hidden = !token();
fleet.setFilter(filtersFromForm()); // a reload keeps the form's values
feed.start();
