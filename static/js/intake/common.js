// Shared by the upload, import and jobs pages: the page's configuration, element building,
// uploads with progress (XMLHttpRequest: fetch cannot report upload progress) and following a job.

import { apiFetch, csrfToken, describeErrors } from "../common/http.js";

export const config = JSON.parse(document.getElementById("intake-config").textContent);

export { TERMINAL } from "../common/jobs.js";

/** An element: `el("td", {class: "x", dataset: {testid: "y"}}, child, "text")`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * POST `form` (FormData) to `url`, calling `onProgress(fraction)` as the body goes out.
 * Resolves to {ok, status, body} whatever the status; rejects only when the network does.
 */
export function postWithProgress(url, form, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.withCredentials = true;
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = { detail: xhr.responseText.slice(0, 200) };
      }
      onProgress(1);
      resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, body });
    });
    xhr.addEventListener("error", () => reject(new Error("The upload could not reach the server.")));
    xhr.addEventListener("abort", () => reject(new Error("The upload was aborted.")));
    xhr.send(form);
  });
}

export { followJob, jobUrl } from "../common/jobs.js";
export const jobCancelUrl = (id) => `/api/jobs/${id}/cancel`;

/** The API's sentence(s) for a refused request. */
export function refusal(body) {
  return describeErrors(body);
}

export const percent = (fraction) => `${Math.round((fraction || 0) * 100)}%`;
