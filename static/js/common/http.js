// The REST API, as the browser pages use it: the session cookie, the CSRF header on writes,
// JSON both ways, and errors that carry the server's JSON answer (`detail` or field messages).

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** Django's CSRF token: the `csrftoken` cookie, else a `csrfmiddlewaretoken` form input. */
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

/** An answer outside 2xx: `status`, the parsed `body`, and a one-sentence `message`. */
export class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.sentence(status, body));
    this.status = status;
    this.body = body;
  }

  /** `detail` if the body has one, else its first field as "field: message". */
  static sentence(status, body) {
    if (body && typeof body === "object") {
      if (body.detail) return String(body.detail);
      const first = Object.entries(body)[0];
      if (first) return `${first[0]}: ${Array.isArray(first[1]) ? first[1].join(" ") : JSON.stringify(first[1])}`;
    }
    return `The server answered ${status}.`;
  }
}

/** Every message of an error body, "field: message" (nested fields dotted), joined by " · ". */
export function describeErrors(body) {
  if (!body) return "The request failed.";
  if (typeof body === "string") return body;
  const parts = [];
  const walk = (value, key) => {
    if (Array.isArray(value)) value.forEach((v) => walk(v, key));
    else if (value && typeof value === "object") Object.entries(value).forEach(([k, v]) => walk(v, key ? `${key}.${k}` : k));
    else parts.push(key && key !== "detail" ? `${key}: ${value}` : String(value));
  };
  walk(body, "");
  return parts.join(" · ");
}

const isRawBody = (body) =>
  typeof body === "string" || body instanceof FormData || body instanceof Blob ||
  body instanceof URLSearchParams || body instanceof ArrayBuffer || ArrayBuffer.isView(body);

/**
 * One request; resolves to {ok, status, body} whatever the status (rejects only when the network
 * does). `body`: a plain value is sent as JSON; a string, FormData, Blob, URLSearchParams or buffer
 * as it is. The answer is parsed as JSON (empty: null; not JSON: {detail: its first 200 characters}).
 */
export async function apiCall(url, { method = "GET", body, headers = {} } = {}) {
  method = method.toUpperCase();
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (!SAFE_METHODS.has(method)) init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    if (isRawBody(body)) {
      init.body = body;
    } else {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  return { ok: response.ok, status: response.status, body: data };
}

/** Like apiCall, but resolves to the parsed body and throws an ApiError for a status outside 2xx. */
export async function apiFetch(url, options) {
  const { ok, status, body } = await apiCall(url, options);
  if (!ok) throw new ApiError(status, body);
  return body;
}
