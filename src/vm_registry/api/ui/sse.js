// Server-Sent Events, parsed from a fetch() body.
//
// The browser's EventSource cannot send an Authorization header, so the page reads the stream
// with fetch() and parses the wire format itself (docs/feed.md): fields up to a blank line make
// one message; lines starting with ":" are keepalives.

/**
 * Yields `{id, event, data}` for every message, and `{retry}` for a reconnection hint.
 * `onBytes` is called whenever anything arrives, keepalives included, so the caller can tell
 * a quiet stream from a dead one.
 */
export async function* messages(body, onBytes) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let searched = 0; // how much of `buffer` is known to hold no newline
  let id = null;
  let event = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onBytes();
      buffer += value;
      let start = 0;
      // A snapshot of a large fleet is one line of many megabytes, arriving in many reads:
      // only the new part is searched for its end, or each read would rescan the whole line.
      for (let end = buffer.indexOf("\n", searched); end >= 0; end = buffer.indexOf("\n", start)) {
        let line = buffer.slice(start, end);
        start = end + 1;
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length > 0) yield { id, event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "data") data.push(text);
        else if (field === "event") event = text;
        else if (field === "id") id = text;
        else if (field === "retry" && /^\d+$/.test(text)) yield { retry: Number(text) };
      }
      buffer = buffer.slice(start);
      searched = buffer.length;
    }
  } finally {
    // Stops the download when the caller stops reading (a dead connection, a resync).
    reader.cancel().catch(() => {});
  }
}
