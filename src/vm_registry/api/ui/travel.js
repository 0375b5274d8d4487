// Time travel: the fleet as it was at an earlier time (`GET /registry/vms?asOf=`) or right after
// an event (`?at=<seq>`, from a click in the ticker), and the way back to live. The feed keeps
// running meanwhile, so "back to live" is instant and misses nothing.

import { getJson, Unauthorized } from "./api.js";

export class TimeTravel {
  constructor({ form, input, live, banner, fleet, onUnauthorized }) {
    Object.assign(this, { input, live, banner, fleet, onUnauthorized });
    this.ticket = 0;
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
