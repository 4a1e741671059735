// A project's members page: the list from GET /api/projects/{id}/members/; owners add (POST),
// change a role (PATCH) and remove (DELETE). Errors are the API's sentences, shown by the form.
import { apiCall, describeErrors } from "../common/http.js";

const config = JSON.parse(document.getElementById("page-config").textContent);
const root = document.getElementById("members-page");
const tbody = root.querySelector("[data-testid=member-list] tbody");
const listError = root.querySelector("[data-testid=member-error]");
const form = document.getElementById("member-add-form");

const offline = (exc) => `The server could not be reached: ${exc.message}`;
const memberUrl = (username) => `${config.api.members}${encodeURIComponent(username)}/`;

function element(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function roleSelect(value, testid) {
  const select = element("select", { "data-testid": testid });
  config.roles.forEach((role) => {
    const option = element("option", { value: role, title: config.roleSummaries[role] }, role);
    option.selected = role === value;
    select.append(option);
  });
  return select;
}

async function write(url, options, errorBox) {
  errorBox.textContent = "";
  try {
    const answer = await apiCall(url, options);
    if (!answer.ok) {
      errorBox.textContent = describeErrors(answer.body);
      return null;
    }
    return answer;
  } catch (exc) {
    errorBox.textContent = offline(exc);
    return null;
  }
}

function row(member) {
  const tr = element("tr", { "data-username": member.username, "data-testid": "member-row" });
  tr.append(element("td", {}, member.username + (member.username === config.me ? " (you)" : "")));
  const roleCell = element("td");
  if (config.canManage) {
    const select = roleSelect(member.role, "member-row-role");
    select.setAttribute("aria-label", `Role of ${member.username}`);
    select.addEventListener("change", async () => {
      const answer = await write(memberUrl(member.username), { method: "PATCH", body: { role: select.value } }, listError);
      if (!answer) select.value = member.role;
      else member.role = answer.body.role;
      roleCell.querySelector(".role-help").textContent = config.roleSummaries[member.role];
    });
    roleCell.append(select, element("div", { class: "muted role-help" }, config.roleSummaries[member.role]));
  } else {
    roleCell.append(element("span", { class: "badge", "data-testid": "member-row-role", title: config.roleSummaries[member.role] }, member.role));
  }
  tr.append(roleCell);
  if (config.canManage) {
    const remove = element("button", { type: "button", class: "danger", "data-testid": "member-remove" }, "Remove");
    remove.addEventListener("click", async () => {
      const answer = await write(memberUrl(member.username), { method: "DELETE" }, listError);
      if (answer) await load();
    });
    const cell = element("td");
    cell.append(remove);
    tr.append(cell);
  }
  return tr;
}

async function load() {
  try {
    const answer = await apiCall(config.api.members);
    if (!answer.ok) {
      listError.textContent = describeErrors(answer.body);
      return;
    }
    tbody.replaceChildren(...answer.body.map(row));
  } catch (exc) {
    listError.textContent = offline(exc);
  }
}

if (form) {
  const help = form.querySelector("[data-testid=member-role-help]");
  const error = form.querySelector("[data-testid=member-add-error]");
  const showHelp = () => { help.textContent = config.roleSummaries[form.elements.role.value]; };
  form.elements.role.addEventListener("change", showHelp);
  showHelp();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { username: form.elements.username.value.trim(), role: form.elements.role.value };
    const answer = await write(config.api.members, { method: "POST", body }, error);
    if (!answer) return;
    form.elements.username.value = "";
    await load();
  });
}

await load();
root.dataset.ready = "1";
