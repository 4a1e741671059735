// Following a job of the API (`GET /api/jobs/{id}/`) until it finishes, reporting its progress.
import { apiFetch } from "../common/http.js";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/** Polls the job until it is finished; `onProgress(job)` after every answer. Resolves to the last job. */
export async function followJob(jobId, onProgress = () => {}, interval = 500) {
  for (;;) {
    const job = await apiFetch(`/api/jobs/${jobId}/`);
    onProgress(job);
    if (FINISHED.has(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
