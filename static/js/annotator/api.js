// The REST API, as the labeling page uses it: the shared fetch helper (session cookie, CSRF
// header on writes, JSON, ApiError) called as request(method, url, {body, headers}). Autosave's
// If-Match, 412 handling and retries with backoff live in saver.js on top of this.
import { ApiError, apiFetch } from "../common/http.js";

export { ApiError };

export function request(method, url, { body, headers = {} } = {}) {
  return apiFetch(url, { method, body, headers });
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
