// Following a job of the API (`GET /api/jobs/{id}/`) until it ends: the one poller every page uses.
import { apiFetch } from "./http.js";

export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
export const jobUrl = (id) => `/api/jobs/${id}/`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll a job (given as the API's job object, or its id) until it ends, calling `onUpdate(job)`
 * after every answer; resolves to the ended job. A network hiccup is retried; a 404 (the job's
 * project was deleted) is thrown. */
export async function followJob(jobOrId, onUpdate = () => {}, { interval = 700 } = {}) {
  let job = typeof jobOrId === "object" ? jobOrId : await apiFetch(jobUrl(jobOrId));
  onUpdate(job);
  while (!TERMINAL.has(job.status)) {
    await sleep(interval);
    try {
      job = await apiFetch(jobUrl(job.id));
    } catch (error) {
      if (error.status === 404) throw error;
      continue;
    }
    onUpdate(job);
  }
  return job;
}
