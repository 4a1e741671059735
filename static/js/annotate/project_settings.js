// A project's settings page (owners): rename and describe (PATCH), delete after typing its name (DELETE).
import { apiCall, describeErrors } from "../common/http.js";

const config = JSON.parse(document.getElementById("page-config").textContent);
const root = document.getElementById("project-settings");
const form = document.getElementById("project-form");
const saved = form.querySelector("[data-testid=project-saved]");
const error = form.querySelector("[data-testid=project-error]");
const deleteForm = document.getElementById("delete-form");
const confirmInput = deleteForm.elements.confirm;
const deleteButton = deleteForm.querySelector("[data-testid=delete-submit]");
const deleteError = deleteForm.querySelector("[data-testid=delete-error]");
const expected = deleteForm.querySelector("[data-testid=delete-expected]");
let name = config.name;

const offline = (exc) => `The server could not be reached: ${exc.message}`;

function updateDeleteButton() {
  deleteButton.disabled = confirmInput.value !== name;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  saved.textContent = "";
  error.textContent = "";
  try {
    const body = { name: form.elements.name.value.trim(), description: form.elements.description.value };
    const answer = await apiCall(config.api.project, { method: "PATCH", body });
    if (!answer.ok) {
      error.textContent = describeErrors(answer.body);
      return;
    }
    name = answer.body.name;
    form.elements.name.value = name;
    expected.textContent = name;
    document.querySelectorAll(".breadcrumbs a")[1].textContent = name;
    updateDeleteButton();
    saved.textContent = "Saved.";
  } catch (exc) {
    error.textContent = offline(exc);
  }
});

confirmInput.addEventListener("input", updateDeleteButton);

deleteForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (confirmInput.value !== name) return;
  deleteError.textContent = "";
  deleteButton.disabled = true;
  try {
    const answer = await apiCall(config.api.project, { method: "DELETE" });
    if (!answer.ok) {
      deleteError.textContent = describeErrors(answer.body);
      updateDeleteButton();
      return;
    }
    window.location.assign(config.listUrl);
  } catch (exc) {
    deleteError.textContent = offline(exc);
    updateDeleteButton();
  }
});
root.dataset.ready = "1";
