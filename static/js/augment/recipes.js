// The recipe list: "Clone into this project" posts the device profile to the API and reloads the
// page; a refusal is written next to the button.
import { apiCall } from "../common/http.js";

document.querySelectorAll(".profiles .clone").forEach((button) => {
  button.addEventListener("click", async () => {
    const box = button.closest(".profiles");
    const { ok, body } = await apiCall(box.dataset.api, {
      method: "POST", body: { profile: button.closest("section").dataset.profile },
    });
    if (ok) location.reload();
    else button.insertAdjacentText("afterend", " " + JSON.stringify(body));
  });
});

// "New recipe": POST an empty recipe with that name, then open it in the editor; the API's refusal
// (a taken name, say) is shown next to the button.
const newRecipe = document.getElementById("new-recipe");
if (newRecipe) {
  newRecipe.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = new FormData(newRecipe).get("name");
    const { ok, body } = await apiCall(newRecipe.dataset.api, { method: "POST", body: { name, spec: { transforms: [] } } });
    if (ok) location.href = newRecipe.dataset.editUrl.replace("/0/", `/${body.id}/`);
    else newRecipe.querySelector(".error").textContent = Object.values(body || {}).flat().join(" ");
  });
}
