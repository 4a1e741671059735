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
