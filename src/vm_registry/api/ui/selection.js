// The selector box: which VMs match a label selector over their metadata (docs/feed.md,
// Selectors), kept live by blocking reads of `/registry/vms?selector=`. The server is the one
// that reads the selector, so the page never disagrees with the API about what matches; each
// read is held until the set changes (a VM enters or leaves it), then the page asks again.

import { Refused, Unauthorized, getJson } from "./api.js";

const HOLD = "60s";
const RETRY_MS = 2000;

export class Selection {
  /** onIds(Set of ids, or null for no selector); onError(message, or "" when it is fine). */
  constructor(onIds, onError) {
    this.onIds = onIds;
    this.onError = onError;
    this.generation = 0; // each set() gets its own loop; an older loop stops at its next turn
  }

  set(text) {
    this.generation += 1;
    this.onError("");
    if (!text) {
      this.onIds(null);
      return;
    }
    this.loop(this.generation, text);
  }

  async loop(generation, text) {
    const base = `/registry/vms?selector=${encodeURIComponent(text)}`;
    let index = null;
    while (generation === this.generation) {
      try {
        const path = index === null ? base : `${base}&index=${index}&wait=${HOLD}`;
        const { body, revision } = await getJson(path);
        if (generation !== this.generation) return;
        this.onIds(new Set(body.vms.map((vm) => vm.id)));
        index = revision;
      } catch (error) {
        if (generation !== this.generation) return;
        if (error instanceof Refused && error.status === 400) {
          this.onError(error.message); // a malformed selector: no VM is shown until it is fixed
          this.onIds(new Set());
          return;
        }
        if (error instanceof Unauthorized) return; // the feed asks for a token
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }
}
