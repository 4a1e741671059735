// The build form of the versions page: reads the form into the API's build parameters,
// POSTs them, shows the API's field errors next to the fields, then follows the build job.
import { apiCall, apiFetch, describeErrors } from "../common/http.js";
import { followJob } from "../common/jobs.js";

const form = document.getElementById("version-build");
const progress = form.querySelector("[data-testid=build-progress]");
const bar = progress.querySelector("progress");
const message = progress.querySelector("[data-testid=build-message]");
const result = progress.querySelector("[data-testid=build-result]");
const submit = form.querySelector("[data-testid=build-submit]");

const checked = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
const value = (name) => form.elements[name].value.trim();
const number = (name) => (value(name) === "" ? null : Number(value(name)));

async function loadRecipes() {
  const select = form.elements.recipe;
  try {
    const body = await apiFetch(form.dataset.recipes);
    for (const recipe of body.results || body) {
      const option = document.createElement("option");
      option.value = recipe.id;
      option.textContent = recipe.name;
      select.append(option);
    }
  } catch (error) {
    showErrors({ augment: [`Could not load the recipes: ${error.message}`] });
  }
}

function params() {
  const body = {
    name: value("name"),
    image_sources: checked("image_sources"),
    annotation_sources: checked("annotation_sources"),
    include_unannotated: form.elements.include_unannotated.checked,
    split: {
      mode: form.querySelector("input[name=split_mode]:checked").value,
      train: number("train"), val: number("val"), test: number("test"), seed: number("seed"),
    },
  };
  const resize = value("resize_mode");
  if (resize) body.preprocessing = { resize: { mode: resize, width: number("width"), height: number("height") } };
  const recipe = value("recipe");
  if (recipe) body.augment = { recipe: Number(recipe), copies: number("copies"), seed: number("augment_seed") };
  return body;
}

function clearErrors() {
  form.querySelectorAll("[data-error-for]").forEach((p) => { p.textContent = ""; });
  form.querySelectorAll("fieldset.has-error").forEach((f) => f.classList.remove("has-error"));
}

/** Each top-level key of the error body (augment.recipe → augment) next to its field set. */
function showErrors(body) {
  if (!body || typeof body !== "object") body = { detail: String(body) };
  for (const [key, messages] of Object.entries(body)) {
    const field = key.split(".")[0];
    const target = form.querySelector(`[data-error-for="${field}"]`) || form.querySelector('[data-error-for="detail"]');
    const text = describeErrors({ [key]: messages });
    target.textContent = target.textContent ? `${target.textContent} · ${text}` : text;
    target.closest("fieldset")?.classList.add("has-error");
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  result.hidden = true;
  submit.disabled = true;
  try {
    const answer = await apiCall(form.dataset.api, { method: "POST", body: params() });
    if (!answer.ok) {
      showErrors(answer.body);
      return;
    }
    progress.hidden = false;
    bar.value = 0;
    message.textContent = "Queued…";
    const versionPage = `/versions/${answer.body.version}/`;
    const job = await followJob(answer.body.id, (j) => {
      bar.value = j.progress || 0;
      message.textContent = `${j.status}${j.message ? ` — ${j.message}` : ""}`;
    });
    progress.dataset.status = job.status;
    if (job.status === "succeeded") {
      bar.value = 1;
      message.textContent = "Built.";
    } else {
      message.textContent = `The build ${job.status}: ${job.error || job.message || ""}`;
    }
    result.href = versionPage;
    result.hidden = false;
  } catch (error) {
    showErrors({ detail: [error.message] });
  } finally {
    submit.disabled = false;
  }
});

loadRecipes().then(() => { form.dataset.ready = "1"; });
