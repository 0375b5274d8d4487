// The page's one connection to the change feed, and how it survives a restart.
//
// The first connection asks for `snapshot=true`: the whole fleet, then every change after it.
// Every later connection sends `Last-Event-ID: <last seq applied>`, so the server replays exactly
// what the page missed while it was away, then continues live: no duplicate, no gap, no reload
// (docs/feed.md, "Reconnecting"). The page checks that promise too: an event that is not the
// next seq makes it start over from a fresh snapshot instead of showing a wrong fleet.

import { errorOf, request } from "./api.js";
import { messages } from "./sse.js";

const FIRST_DELAY_MS = 2000; // the server's `retry:` hint replaces it
// Lower than an agent's 30 s (docs/feed.md): dashboards are few, and a person watching one
// should not wait half a minute after the registry is back.
const MAX_DELAY_MS = 10000;
// Keepalives come every 15 s by default; four missed ones mean the connection is dead.
const SILENCE_MS = 60000;


export class Feed {
  /**
   * handlers: snapshot({revision, vms}), event(event), state(name, detail),
   * unauthorized(message).
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.seq = null; // the last seq applied; null until the first snapshot
    this.retryMs = FIRST_DELAY_MS;
    this.generation = 0; // each start() gets its own loop; a stopped loop never resumes
    this.controller = null;
    this.wakeUp = null; // ends the current wait between attempts early
  }

  /** "Reconnect now": the operator knows the registry is back; skip the rest of the wait. */
  wake() {
    this.wakeUp?.();
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  get running() {
    return this.generation % 2 === 1;
  }

  start() {
    if (this.running) return;
    this.generation += 1;
    this.loop(this.generation);
  }

  stop() {
    if (this.running) this.generation += 1;
    this.controller?.abort();
  }

  async loop(generation) {
    let delay = this.retryMs;
    let attempt = 0;
    const current = () => this.generation === generation;
    while (current()) {
      this.handlers.state(attempt === 0 && this.seq === null ? "connecting" : "reconnecting");
      attempt += 1;
      let wait = null;
      try {
        const outcome = await this.connect();
        if (outcome.delivered) delay = this.retryMs;
        wait = outcome.wait;
      } catch (error) {
        if (!current()) return;
        this.handlers.state("reconnecting", String(error.message || error));
      }
      if (!current()) return;
      // Full jitter: a restarted registry must not see every dashboard come back at one instant.
      await this.sleep(wait ?? Math.random() * delay);
      this.wakeUp = null;
      delay = Math.min(2 * delay, MAX_DELAY_MS);
    }
  }

  /** One connection, until it ends. Resolves to `{delivered, wait}`. */
  async connect() {
    const controller = new AbortController();
    this.controller = controller;
    const headers = { Accept: "text/event-stream" };
    let path = "/registry/stream";
    if (this.seq === null) path += "?snapshot=true";
    else headers["Last-Event-ID"] = String(this.seq);

    const response = await request(path, { headers, signal: controller.signal });
    if (response.status === 401 || response.status === 403) {
      const message = await errorOf(response); // before stop(): it aborts this body's read
      this.stop();
      this.handlers.unauthorized(message);
      return { delivered: false, wait: 0 };
    }
    if (response.status === 410 || (response.status === 400 && this.seq !== null)) {
      // History before our seq was compacted away, or the server has a shorter log than we
      // saw (a restore, a new database): only a fresh snapshot gives a true fleet.
      this.handlers.state("reconnecting", await errorOf(response));
      this.seq = null;
      return { delivered: false, wait: 0 };
    }
    if (!response.ok) {
      const message = await errorOf(response);
      this.handlers.state("reconnecting", message);
      const after = Number(response.headers.get("Retry-After"));
      return { delivered: false, wait: after > 0 ? after * 1000 + Math.random() * 1000 : null };
    }

    // Connected: a quiet fleet may send nothing but keepalives for a long time.
    this.handlers.state("live");
    let delivered = false;
    let heard = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - heard > SILENCE_MS) controller.abort();
    }, 5000);
    try {
      for await (const message of messages(response.body, () => (heard = Date.now()))) {
        delivered = true; // the opening `retry:` counts: the server is answering
        if (message.retry !== undefined) {
          this.retryMs = message.retry;
          continue;
        }
        if (!this.apply(message)) return { delivered, wait: 0 };
      }
    } catch (error) {
      if (!this.running) return { delivered, wait: 0 };
      this.handlers.state("reconnecting", String(error.message || error));
      return { delivered, wait: null };
    } finally {
      clearInterval(watchdog);
      controller.abort();
    }
    // The server ended the stream (a graceful shutdown, or compaction overtook us).
    return { delivered, wait: null };
  }

  /** Applies one message; false when the stream broke its promise and we must resync. */
  apply(message) {
    const seq = Number(message.id);
    if (message.event === "snapshot") {
      this.seq = seq;
      this.handlers.snapshot(JSON.parse(message.data));
      return true;
    }
    if (message.event === "bookmark") {
      this.seq = Math.max(this.seq, seq);
      return true;
    }
    if (this.seq !== null && seq <= this.seq) return true; // already applied
    if (this.seq === null || seq !== this.seq + 1) {
      this.handlers.state("reconnecting", `expected event ${this.seq + 1}, got ${seq}`);
      this.seq = null;
      return false;
    }
    this.seq = seq;
    this.handlers.event(JSON.parse(message.data));
    return true;
  }
}
