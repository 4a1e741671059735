// The runs list: start a run through POST /api/projects/{id}/training-runs/ and open its page.
// A refused setting comes back as a 400 naming the field; it is shown next to the form.
import { apiCall, describeErrors } from "../common/http.js";

const form = document.getElementById("train-form");
if (form) start(form);

function start(form) {
  const error = document.getElementById("train-form-error");
  const task = form.elements.task;
  const architecture = form.elements.architecture;

  function offerArchitectures() {
    for (const option of architecture.options) {
      option.disabled = !option.dataset.tasks.split(",").includes(task.value);
    }
    if (architecture.selectedOptions[0]?.disabled) {
      architecture.value = [...architecture.options].find((o) => !o.disabled)?.value || "";
    }
    for (const field of form.querySelectorAll("[data-for-task]")) field.hidden = field.dataset.forTask !== task.value;
  }
  task.addEventListener("change", offerArchitectures);
  offerArchitectures();

  const number = (name) => (form.elements[name].value === "" ? undefined : Number(form.elements[name].value));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const options = {
      minimalistic: form.elements.minimalistic.checked,
      class_weights: form.elements.class_weights.checked,
    };
    if (number("alpha") !== undefined) options.alpha = number("alpha");
    if (number("pruning") !== undefined) options.pruning = { sparsity: number("pruning") };
    if (task.value === "keypoints" && form.elements.keypoint_label.value) options.keypoint_label = form.elements.keypoint_label.value;
    if (task.value === "segment") options.segment_output = form.elements.segment_output.value;
    const body = {
      version: number("version"), task: task.value, architecture: architecture.value,
      input_size: number("input_size"), epochs: number("epochs"), batch_size: number("batch_size"),
      learning_rate: number("learning_rate"), schedule: form.elements.schedule.value,
      warmup_epochs: number("warmup_epochs"), recipe: number("recipe") ?? null,
      init_from: number("init_from") ?? null, seed: number("seed"), options,
    };
    Object.keys(body).forEach((k) => body[k] === undefined && delete body[k]);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const answer = await apiCall(form.dataset.api, { method: "POST", body });
    button.disabled = false;
    if (answer.ok) {
      window.location.href = answer.body.url;
    } else {
      error.hidden = false;
      error.textContent = describeErrors(answer.body);
    }
  });
}
