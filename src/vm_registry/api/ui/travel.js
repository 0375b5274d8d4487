// Time travel: the fleet as it was at an earlier time (`GET /registry/vms?asOf=`) or right after
// an event (`?at=<seq>`, from a click in the ticker), and the way back to live. The feed keeps
// running meanwhile, so "back to live" is instant and misses nothing.
//
// How far back it can go: the oldest event the log still holds (`GET /registry/events?limit=1`
// answers from there once retention or `compact` dropped older history), shown next to the
// picker and set as its minimum. Read again whenever the picker is about to be used, since
// retention moves it while the page is open.

import { getJson, Unauthorized } from "./api.js";

export class TimeTravel {
  constructor({ form, input, live, banner, reach, fleet, onUnauthorized }) {
    Object.assign(this, { input, live, banner, reach, fleet, onUnauthorized });
    this.ticket = 0;
    input.addEventListener("focus", () => this.refreshReach());
    form.addEventListener("submit", (submit) => {
      submit.preventDefault();
      if (!input.value) {
        this.banner.textContent = "pick a date and time first";
        return;
      }
      // datetime-local is the browser's local time; the API wants an absolute time.
      const moment = new Date(input.value);
      this.go({ asOf: moment.toISOString() }, `as of ${moment.toISOString()}`);
    });
    live.addEventListener("click", () => this.back());
  }

  async refreshReach() {
    let oldest;
    try {
      const { body } = await getJson("/registry/events?limit=1");
      oldest = body.events[0];
    } catch {
      return; // no token yet, or the log is unreachable: the picker says nothing then
    }
    if (!oldest) {
      this.reach.textContent = "";
      this.input.removeAttribute("min");
      return;
    }
    const from = new Date(oldest.at);
    this.reach.textContent = `history from ${from.toISOString()} (event ${oldest.seq})`;
    // datetime-local's minimum is in the browser's local time, without a zone.
    const local = new Date(from.getTime() - from.getTimezoneOffset() * 60_000);
    this.input.min = local.toISOString().slice(0, 23);
  }

  toSeq(seq) {
    return this.go({ at: String(seq) }, `right after event ${seq}`);
  }

  async go(query, label) {
    const ticket = ++this.ticket;
    this.banner.textContent = "loading…";
    try {
      const { body, revision } = await getJson(`/registry/vms?${new URLSearchParams(query)}`);
      if (ticket !== this.ticket) return;
      this.fleet.showPast(body.vms);
      document.body.classList.add("travelling");
      this.live.hidden = false;
      this.banner.textContent = `Showing the fleet ${label} (revision ${revision}). The ticker stays live.`;
    } catch (error) {
      if (ticket !== this.ticket) return;
      if (error instanceof Unauthorized) {
        this.onUnauthorized(error.message);
        return;
      }
      this.banner.textContent = error.message;
    }
  }

  back() {
    this.ticket++;
    this.fleet.showLive();
    document.body.classList.remove("travelling");
    this.live.hidden = true;
    this.banner.textContent = "";
  }
}
