// Calls to the registry's API, with the operator's token.
//
// The token lives in sessionStorage: it survives a reload of this tab, and is gone when the
// tab closes. It goes only into the Authorization header; never into a URL, where proxies and
// access logs would keep it.

const TOKEN_KEY = "vm-registry.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An answer the page cannot fix by retrying: a missing or wrong token (401, 403). */
export class Unauthorized extends Error {}

/** Any other refusal, with the server's own `{"error": ...}` message. */
export class Refused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function request(path, init = {}) {
  const headers = new Headers(init.headers || {});
  const secret = token();
  if (secret) headers.set("Authorization", `Bearer ${secret}`);
  return fetch(path, { ...init, headers, cache: "no-store", credentials: "omit" });
}

export async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") return body.error;
  } catch {
    // not JSON: fall through to the status line
  }
  return `${response.status} ${response.statusText}`.trim();
}

/** GET a JSON resource; resolves to `{body, revision}`. */
export async function getJson(path) {
  const response = await request(path, { headers: { Accept: "application/json" } });
  if (response.status === 401 || response.status === 403) {
    throw new Unauthorized(await errorOf(response));
  }
  if (!response.ok) throw new Refused(response.status, await errorOf(response));
  const revision = Number(response.headers.get("X-Registry-Revision"));
  return { body: await response.json(), revision };
}
