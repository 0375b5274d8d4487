// How values read on the page.

/** "4s", "12m 3s", "3h 20m", "2d 4h": the larger two units of a duration. */
export function duration(ms) {
  let seconds = Math.max(0, Math.floor(ms / 1000));
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const parts = [];
  for (const [name, size] of units) {
    if (seconds >= size || (name === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(seconds / size)}${name}`);
      seconds %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

export function ago(iso, now = Date.now()) {
  return `${duration(now - Date.parse(iso))} ago`;
}

/** The time of day of an ISO time, in the browser's zone, to the millisecond. */
export function clock(iso) {
  const at = new Date(iso);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}

/** Who made a change: a token's name, the reaper, or the client's address. */
export function actor(who) {
  if (!who) return "";
  if (who.system) return who.system;
  if (who.token) return who.token;
  return who.ip || who.userAgent || "";
}

/** Creates an element with a class and text; the page never builds HTML from strings. */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
