// The synth page: launch a job through the API, follow every unfinished job (poll once a second),
// show the first images as they arrive. Everything goes through the REST API with the session cookie
// (common/http.js: CSRF header, JSON, the answer as {ok, status, body}).
import { apiCall as api, describeErrors } from "../common/http.js";

const root = document.getElementById("synth");
if (root) start(root);

function start(root) {
  const projectId = root.dataset.project;
  const firstImages = Number(root.dataset.firstImages || 12);
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

  /** The job's message as the page shows it: only Blender jobs wait for a render worker;
   * cut-and-paste shards run on any worker (the default queue). */
  function messageOf(generator, message) {
    if (generator !== "blender") return (message || "").replace(/\bWaiting for a render worker\b/, "Waiting for a worker");
    return message || "";
  }

  // --- jobs -----------------------------------------------------------------------------------
  const list = document.getElementById("synth-jobs");

  function jobCard(job) {
    let card = list.querySelector(`.synth-job[data-id="${job.id}"]`);
    if (card) return card;
    list.querySelectorAll(".empty").forEach((el) => el.remove());
    card = document.createElement("section");
    card.className = "card synth-job";
    card.dataset.id = job.id;
    card.dataset.job = job.job.id;
    card.dataset.generator = job.generator;
    card.setAttribute("data-testid", `synth-job-${job.id}`);
    card.id = `synth-job-${job.id}`;
    const spec = job.spec || {};
    const resolution = spec.resolution || ["?", "?"];
    card.innerHTML = `<h3>Job ${job.id} <span class="muted"></span></h3>
      <p><span class="badge status"></span> <progress max="1" value="0"></progress> <span class="message"></span></p>
      <p class="error job-error" hidden></p><div class="thumbs"></div>`;
    card.querySelector("h3 .muted").textContent =
      `· ${job.generator} · ${spec.count} image${spec.count === 1 ? "" : "s"} · ${resolution[0]}×${resolution[1]} · seed ${spec.seed}`;
    if (root.dataset.canCreate === "1") {
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "cancel";
      cancel.textContent = "Cancel";
      card.querySelector("p").appendChild(cancel);
    }
    list.prepend(card);
    return card;
  }

  function show(card, job) {
    const status = job.status || (job.job && job.job.status);
    card.dataset.status = status;
    card.querySelector(".status").textContent = status;
    card.querySelector("progress").value = job.progress || 0;
    card.querySelector(".message").textContent = messageOf(job.generator || card.dataset.generator, job.job && job.job.message);
    const error = card.querySelector(".job-error");
    const text = job.job && job.job.error;
    error.hidden = !text;
    error.textContent = text || "";
    if (TERMINAL.has(status)) card.querySelectorAll(".cancel").forEach((b) => b.remove());
    const thumbs = card.querySelector(".thumbs");
    for (const imageId of (job.first_image_ids || []).slice(0, firstImages)) {
      if (thumbs.querySelector(`[data-image="${imageId}"]`)) continue;
      const link = document.createElement("a");
      link.href = `/projects/${projectId}/images/${imageId}/label`;
      link.dataset.image = imageId;
      const img = document.createElement("img");
      img.src = `/api/images/${imageId}/thumbnail`;
      img.alt = `synthetic image ${imageId}`;
      img.className = "thumb";
      link.appendChild(img);
      thumbs.appendChild(link);
    }
  }

  const following = new Set();

  async function follow(id) {
    if (following.has(id)) return;
    following.add(id);
    try {
      for (;;) {
        const {ok, body} = await api(`/api/synth-jobs/${id}/`);
        if (!ok) break;
        const card = jobCard(body);
        show(card, body);
        if (TERMINAL.has(body.status)) break;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    } finally {
      following.delete(id);
    }
  }

  list.addEventListener("click", async (event) => {
    const button = event.target.closest(".cancel");
    if (!button) return;
    const card = button.closest(".synth-job");
    button.disabled = true;
    const {ok, body} = await api(`/api/jobs/${card.dataset.job}/cancel`, {method: "POST"});
    if (!ok) {
      const error = card.querySelector(".job-error");
      error.hidden = false;
      error.textContent = describeErrors(body);
      button.disabled = false;
    }
    follow(card.dataset.id);
  });

  list.querySelectorAll(".synth-job").forEach((card) => {
    if (!TERMINAL.has(card.dataset.status)) follow(card.dataset.id);
  });

  // --- the launch form --------------------------------------------------------------------------
  const form = document.getElementById("synth-form");
  if (form) {
    const generator = () => form.querySelector("input[name=generator]:checked").value;
    const applyGenerator = () => {
      root.querySelectorAll("[data-generator]").forEach((el) => { el.hidden = el.dataset.generator !== generator(); });
    };
    form.querySelectorAll("input[name=generator]").forEach((el) => el.addEventListener("change", applyGenerator));
    applyGenerator();

    const number = (name) => Number(form.elements[name].value);
    // An emptied range field is sent as null, so the API names it instead of reading it as 0.
    const bound = (name) => (Number.isNaN(form.elements[name].valueAsNumber) ? null : form.elements[name].valueAsNumber);
    const rangeRows = [...form.querySelectorAll("[data-range]")];

    function spec() {
      const gen = generator();
      const out = {
        generator: gen,
        count: number("count"),
        resolution: [number("width"), number("height")],
        seed: number("seed"),
        shard_size: number("shard_size"),
        objects_per_image: [number("objects_min"), number("objects_max")],
        classes: [],
        backgrounds: [...form.querySelectorAll(".background:checked")]
          .filter((el) => !el.closest("[data-generator]") || el.closest("[data-generator]").dataset.generator === gen)
          .map((el) => Number(el.value)),
      };
      if (gen === "blender") {
        out.samples = number("samples");
        out.denoise = form.elements.denoise.checked;
        out.ground = form.elements.ground.checked;
        out.distractors = [number("distractors_min"), number("distractors_max")];
        for (const row of rangeRows) {
          const name = row.dataset.range;
          out[name] = [bound(`${name}_min`), bound(`${name}_max`)];
        }
      } else {
        out.blending = [...form.querySelectorAll("input[name=blending]:checked")].map((el) => el.value);
        out.flip = form.elements.flip.checked;
      }
      form.querySelectorAll(".synth-class").forEach((row) => {
        if (!row.querySelector(".use-label").checked) return;
        const part = row.querySelector(`[data-generator="${gen}"]`);
        const assets = [...part.querySelectorAll(".source:checked")]
          .map((el) => (el.dataset.asset ? Number(el.value) : el.value));
        const entry = {label: Number(row.dataset.label), assets};
        if (gen === "cutpaste") entry.use_annotated_masks = part.querySelector(".use-masks").checked;
        out.classes.push(entry);
      });
      return out;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = form.querySelector("[data-testid=form-error]");
      const button = form.querySelector("[data-testid=launch]");
      error.hidden = true;
      form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
      button.disabled = true;
      try {
        const {ok, body} = await api(root.dataset.jobsApi, {method: "POST", body: {spec: spec()}});
        if (!ok) {
          error.textContent = describeErrors(body);
          error.hidden = false;
          // Point at the refused ranges, opening their group if it was folded away.
          for (const row of rangeRows) {
            if (!body || typeof body !== "object" || !(row.dataset.range in body)) continue;
            row.querySelectorAll("input").forEach((el) => el.setAttribute("aria-invalid", "true"));
            row.closest("details").open = true;
          }
          return;
        }
        const card = jobCard(body);
        show(card, body);
        // the job just launched: first in the list, marked, and scrolled to (the list is below the form)
        list.prepend(card);
        list.querySelectorAll(".synth-job.launched").forEach((el) => el.classList.remove("launched"));
        card.classList.add("launched");
        const notice = form.querySelector("[data-testid=launched]");
        if (notice) {
          notice.hidden = false;
          notice.querySelector("a").href = `#${card.id}`;
          notice.querySelector("a").textContent = `Job ${body.id}`;
        }
        card.scrollIntoView({ block: "start", behavior: "smooth" });
        follow(body.id);
      } finally {
        button.disabled = false;
      }
    });
  }

  // --- deleting an asset -----------------------------------------------------------------------
  root.addEventListener("click", async (event) => {
    const button = event.target.closest(".asset-delete");
    if (!button) return;
    const item = button.closest(".asset-item");
    const name = item.querySelector("label").textContent.trim();
    if (!confirm(`Delete the asset "${name}"? This cannot be undone; images already generated are kept.`)) return;
    let error = item.querySelector(".error");
    if (error) error.hidden = true;
    button.disabled = true;
    const {status, body} = await api(`/api/synth-assets/${button.dataset.assetId}/`, {method: "DELETE"});
    if (status === 204) {
      item.remove();
      return;
    }
    if (!error) {
      error = document.createElement("span");
      error.className = "error";
      error.setAttribute("role", "alert");
      item.appendChild(error);
    }
    error.textContent = ` ${describeErrors(body)}`;
    error.hidden = false;
    button.disabled = false;
  });

  const assetForm = document.getElementById("asset-form");
  if (assetForm) {
    assetForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(assetForm);
      if (!data.get("label")) data.delete("label");
      const {ok, body} = await api(root.dataset.assetsApi, {method: "POST", body: data});
      const error = assetForm.querySelector(".error");
      if (ok) { location.reload(); return; }
      error.textContent = describeErrors(body);
      error.hidden = false;
    });
  }
}
