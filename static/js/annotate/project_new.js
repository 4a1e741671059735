// The project list's "New project" form: POST /api/projects/, then open the new project's page.
import { apiCall, describeErrors } from "../common/http.js";

const form = document.getElementById("new-project-form");
const error = form.querySelector("[data-testid=new-project-error]");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const body = { name: form.elements.name.value.trim(), description: form.elements.description.value };
    const answer = await apiCall(form.dataset.api, { method: "POST", body });
    if (!answer.ok) {
      error.textContent = describeErrors(answer.body);
      return;
    }
    window.location.assign(`/projects/${answer.body.id}/`);
  } catch (exc) {
    error.textContent = `The server could not be reached: ${exc.message}`;
  } finally {
    button.disabled = false;
  }
});
form.dataset.ready = "1";
