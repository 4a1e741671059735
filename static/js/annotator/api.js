// The REST API, as the browser uses it: session cookie plus the CSRF header on writes.
function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.sentence(status, body));
    this.status = status;
    this.body = body;
  }

  static sentence(status, body) {
    if (body && typeof body === "object") {
      if (body.detail) return String(body.detail);
      const first = Object.entries(body)[0];
      if (first) return `${first[0]}: ${Array.isArray(first[1]) ? first[1].join(" ") : JSON.stringify(first[1])}`;
    }
    return `The server answered ${status}.`;
  }
}

export async function request(method, url, { body, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Every page of a paginated list. */
export async function listAll(url) {
  const items = [];
  let next = url;
  while (next) {
    const page = await request("GET", next);
    if (Array.isArray(page)) return page;
    items.push(...page.results);
    next = page.next;
  }
  return items;
}
