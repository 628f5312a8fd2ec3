// The Dashboard: the back office of both product documents, on the gateway's own API.
// Every action is a command or a query of /v1 as the signed-in admin; the services decide.
// The page is built with DOM calls and text nodes only (never parsed as HTML): what a customer,
// a shop or a service wrote is shown, never run. The credentials live in this tab's
// sessionStorage and leave it only as the Authorization or X-API-Key header.
import { Gateway, Problem } from "./storecredit-http.mjs";
import { balanceChart, balancesOverTime } from "./chart.mjs";

const PAGE = 20;
const KEY = "storecredit.dashboard.apiKey";
const TOKEN = "storecredit.dashboard.token";
const gateway = new Gateway(location.origin, {
  apiKey: () => sessionStorage.getItem(KEY),
  token: () => sessionStorage.getItem(TOKEN),
});
const view = document.getElementById("view");

// --- small helpers -----------------------------------------------------------------------

/** An element with attributes (on* are listeners) and children (strings become text). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

function say(text, kind = "ok") {
  const message = document.getElementById("message");
  message.textContent = text;
  if (text) message.dataset.kind = kind;
  else delete message.dataset.kind;
}

/** What the admin typed cannot be sent: said as it is, nothing sent. */
class Invalid extends Error {}

function sentence(error) {
  if (error instanceof Problem) return `${error.title} (${error.code}): ${error.detail}`;
  if (error instanceof Invalid) return error.message;
  return `The gateway could not be reached: ${error.message}`;
}

/** Run `work` for a button: disabled and saying so while it runs; a refusal said aloud. */
async function act(button, work, busy = "Working…") {
  const label = button.textContent;
  say(""); // the last action's message is not this one's
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = busy;
  try {
    return await work();
  } catch (error) {
    say(sentence(error), "error");
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

function field(label, input) {
  return h("label", {}, label, input);
}

function check(label, input) {
  return h("label", { class: "check" }, input, label);
}

function values(form) {
  const found = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    if (element.type === "checkbox") found[element.name] = element.checked;
    else if (element.value.trim() !== "") found[element.name] = element.value.trim();
  }
  return found;
}

function moment(local) {
  // <input type="datetime-local"> is the admin's local time: sent as UTC.
  return local ? new Date(local).toISOString() : undefined;
}

/** An ISO moment as an <input type="datetime-local"> value, in the admin's local time. */
function localMinute(iso) {
  if (!iso) return undefined;
  const at = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

/** A whole number the admin typed, exactly (points and minor units are integers). */
function whole(text, what) {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new Invalid(`${what} must be a whole number up to ${Number.MAX_SAFE_INTEGER}.`);
  }
  return value;
}

function money(minor, currency = "") {
  if (minor === null || minor === undefined) return "-";
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")} ${currency}`.trim();
}

function table(headers, rows, empty) {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((title) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, rows),
  );
}

function cell(value, numeric = false) {
  return h("td", numeric ? { class: "number" } : {}, value ?? "-");
}

function newId(prefix) {
  return `${prefix}-${crypto.randomUUID()}`;
}

function params() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

let sayOnArrival = "";

/** Open a view; `message` is said there (a new view clears the last one's message). */
function go(route, query = {}, message = "") {
  const search = new URLSearchParams(query).toString();
  const hash = `#/${route}${search ? `?${search}` : ""}`;
  if (location.hash === hash) {
    say(message);
    show(); // the same view again: looked up afresh
  } else {
    sayOnArrival = message;
    location.hash = hash;
  }
}

function searchForm(label, name, initial, onSearch) {
  const input = h("input", { name, required: true, value: initial || "", autocomplete: "off" });
  const form = h(
    "form",
    { class: "card", role: "search", onsubmit: (event) => {
      event.preventDefault();
      onSearch(input.value.trim());
    } },
    h("div", { class: "fields" }, field(label, input)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Find")),
  );
  return form;
}

/** A list that loads a page at a time: `load(cursor)` answers {rows, next}. */
function pagedList(headers, empty, load) {
  const holder = h("div", { class: "paged", "aria-busy": "true" }, h("p", {}, "Loading…"));
  const body = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show more");
  const list = [
    h("table", {}, h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))), body),
    h("div", { class: "actions" }, more),
  ];
  let shown = 0;
  let cursor = null;
  const next = async () => {
    const page = await load(cursor);
    page.rows.forEach((row) => body.append(row));
    if (shown === 0 && page.rows.length > 0) holder.replaceChildren(...list);
    shown += page.rows.length;
    cursor = page.next;
    more.hidden = cursor === null || cursor === undefined;
    if (shown === 0) holder.replaceChildren(h("p", { class: "empty" }, empty));
  };
  more.addEventListener("click", () => act(more, next, "Loading…"));
  next()
    .catch((error) => holder.replaceChildren(h("p", { class: "empty" }, sentence(error))))
    .finally(() => holder.removeAttribute("aria-busy"));
  return holder;
}

// --- signing in ----------------------------------------------------------------------------

function signedIn() {
  return Boolean(sessionStorage.getItem(KEY) || sessionStorage.getItem(TOKEN));
}

function signInView() {
  const apiKey = h("input", { name: "api_key", type: "password", autocomplete: "off" });
  const token = h("textarea", { name: "token", rows: 3, autocomplete: "off" });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card", onsubmit: (event) => {
      event.preventDefault();
      act(button, async () => {
        sessionStorage.removeItem(KEY);
        sessionStorage.removeItem(TOKEN);
        if (apiKey.value.trim()) sessionStorage.setItem(KEY, apiKey.value.trim());
        else if (token.value.trim()) sessionStorage.setItem(TOKEN, token.value.trim());
        try {
          await gateway.get("/v1/dead-letters/ledger", { limit: 1 }); // admins only
        } catch (error) {
          sessionStorage.removeItem(KEY);
          sessionStorage.removeItem(TOKEN);
          throw error;
        }
        go("templates", {}, "Signed in.");
      }, "Signing in…");
    } },
    h("p", {}, "Sign in as an admin: an API key (", h("code", {}, "id.secret"),
      "), or a bearer token of the shop's identity provider with the admin role."),
    h("div", { class: "fields" }, field("API key", apiKey), field("or bearer token", token)),
    h("div", { class: "actions" }, button),
  );
  return [h("h1", {}, "Sign in"), form];
}

// --- templates ------------------------------------------------------------------------------

function templatesView() {
  const list = h("div");
  const render = () => list.replaceChildren(
    pagedList(["Template", "Name", "Kind", "Unit", "1 point =", "Status", ""], "No templates yet: create the first below.", async (after) => {
      const page = await gateway.get("/v1/templates", { limit: PAGE, ...(after ? { after } : {}) });
      return { rows: page.templates.map(templateRow), next: page.next_after };
    }),
  );
  /** The template's exchange rates as "0.01 USD, 0.009 EUR", changed in place. */
  const ratesForm = (t) => {
    const shown = Object.entries(t.exchange_rates || {}).map(([c, r]) => `${r} ${c}`).join(", ");
    const rates = h("input", { name: "rates", value: shown, size: 14, "aria-label": `Rates of ${t.template_id}`, placeholder: "0.01 USD" });
    const set = h("button", { type: "submit", class: "secondary" }, "Set");
    return h("form", { class: "inline", onsubmit: (event) => {
      event.preventDefault();
      act(set, async () => {
        const exchangeRates = {};
        for (const pair of rates.value.split(",").map((p) => p.trim()).filter(Boolean)) {
          const [rate, currency, ...rest] = pair.split(/\s+/);
          if (!currency || rest.length || !/^\d+(\.\d+)?$/.test(rate)) {
            throw new Invalid(`"${pair}" is not a rate and a currency, such as 0.01 USD.`);
          }
          exchangeRates[currency.toUpperCase()] = rate; // a decimal string: exact
        }
        await gateway.send("PATCH", `/v1/templates/${encodeURIComponent(t.template_id)}`, { exchange_rates: exchangeRates });
        say(`Template ${t.template_id}'s rates set: its accounts follow.`);
        render();
      });
    } }, rates, set);
  };
  const templateRow = (t) => {
    const name = h("input", { name: "name", value: t.name, "aria-label": `New name of ${t.template_id}` });
    const rename = h("button", { type: "submit", class: "secondary" }, "Rename");
    const toggle = h("button", { type: "button", class: "secondary" }, t.status === "active" ? "Deactivate" : "Activate");
    toggle.addEventListener("click", () => act(toggle, async () => {
      const status = t.status === "active" ? "inactive" : "active";
      await gateway.send("PATCH", `/v1/templates/${encodeURIComponent(t.template_id)}`, { status });
      say(`Template ${t.template_id} is ${status}.`);
      render();
    }));
    return h("tr", { "data-template": t.template_id },
      cell(t.template_id),
      h("td", {}, h("form", { class: "inline", onsubmit: (event) => {
        event.preventDefault();
        act(rename, async () => {
          await gateway.send("PATCH", `/v1/templates/${encodeURIComponent(t.template_id)}`, { name: name.value.trim() });
          say(`Template ${t.template_id} renamed: its accounts follow.`);
          render();
        });
      } }, name, rename)),
      cell(t.kind), cell(t.unit),
      h("td", {}, ratesForm(t)),
      h("td", {}, h("span", { class: `badge ${t.status === "active" ? "good" : ""}` }, t.status)),
      h("td", {}, toggle));
  };
  const create = h("button", { type: "submit" }, "Create template");
  const form = h("form", { class: "card", "aria-labelledby": "new-template", onsubmit: (event) => {
    event.preventDefault();
    const given = values(form);
    act(create, async () => {
      await gateway.post("/v1/templates", {
        template_id: given.template_id,
        name: given.name,
        kind: given.kind,
        unit: given.unit,
        exchange_rates: given.rate ? { [given.currency || "USD"]: given.rate } : {},
      });
      say(`Template ${given.template_id} created: new customers get an account from it.`);
      form.reset();
      render();
    });
  } },
    h("h2", { id: "new-template" }, "New template"),
    h("div", { class: "fields" },
      field("Template id", h("input", { name: "template_id", required: true })),
      field("Name", h("input", { name: "name", required: true })),
      field("Kind", h("select", { name: "kind" }, h("option", {}, "loyalty"), h("option", {}, "store_credit"))),
      field("Unit", h("input", { name: "unit", required: true, placeholder: "points:loyalty" })),
      field("1 point is worth", h("input", { name: "rate", inputmode: "decimal", placeholder: "0.01" })),
      field("in currency", h("input", { name: "currency", value: "USD", maxlength: 3 }))),
    h("div", { class: "actions" }, create));
  render();
  return [h("h1", {}, "Point-account templates"), list, form];
}

// --- customers and their accounts ------------------------------------------------------------

function customersView() {
  const customer = params().get("id");
  const parts = [h("h1", {}, "Customers"), searchForm("Customer id", "customer_id", customer, (id) => go("customers", { id }))];
  if (!customer) return parts;
  const accounts = h("div", {}, h("p", {}, "Loading…"));
  const path = `/v1/customers/${encodeURIComponent(customer)}/accounts`;
  const render = async () => {
    const found = await gateway.get(path);
    draw(found);
    return found;
  };
  /** Render until the list reports `balance` for `account` (it follows the ledger's events). */
  const renderUntil = async (account, balance) => {
    for (let waited = 0; waited < 30_000; waited += 500) {
      const found = await render();
      if (found.point_accounts.some((a) => a.account_id === account && a.balance === balance)) return;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };
  const draw = (found) => {
    const rows = found.point_accounts.map((a) => h("tr", { "data-account": a.account_id },
      h("td", {}, h("a", { href: `#/accounts?id=${encodeURIComponent(a.account_id)}&customer=${encodeURIComponent(customer)}` }, a.account_id)),
      cell(a.name), cell(a.kind), cell(a.unit),
      cell(a.balance, true), cell(a.holds, true), cell(a.available, true), cell(a.status)));
    accounts.replaceChildren(table(["Account", "Name", "Kind", "Unit", "Balance", "Holds", "Available", "Status"], rows,
      "This customer has no point accounts yet: templates give new customers theirs, or create one below."));
    for (const choose of choosers) {
      choose.replaceChildren(...found.point_accounts.map((a) => h("option", { value: a.account_id }, `${a.name} (${a.account_id})`)));
    }
  };
  const choosers = [];
  const move = (sign, label) => {
    const choose = h("select", { name: "account_id", required: true });
    choosers.push(choose);
    const button = h("button", { type: "submit" }, label);
    const form = h("form", { class: "card", onsubmit: (event) => {
      event.preventDefault();
      const given = values(form);
      act(button, async () => {
        const account = given.account_id;
        const result = await gateway.post(`/v1/accounts/${encodeURIComponent(account)}/transactions`, {
          transaction_id: newId(sign > 0 ? "deposit" : "spend"),
          amount: sign * whole(given.points, "Points"),
          kind: sign > 0 ? "deposit" : "spend",
          status: "committed",
          description: given.description || "",
        });
        say(`${label}: done. The balance is ${result.produced.balance}.`);
        form.reset();
        await renderUntil(account, result.produced.balance);
      });
    } },
      h("h2", {}, label),
      h("div", { class: "fields" },
        field("Account", choose),
        field("Points", h("input", { name: "points", type: "number", min: 1, step: 1, required: true })),
        field("Description", h("input", { name: "description" }))),
      h("div", { class: "actions" }, button));
    return form;
  };
  const deposit = move(1, "Deposit points");
  const spend = move(-1, "Spend points");
  const create = h("button", { type: "submit" }, "Create account");
  const direct = h("form", { class: "card", onsubmit: (event) => {
    event.preventDefault();
    const given = values(direct);
    act(create, async () => {
      await gateway.post(path, {
        account_id: given.account_id,
        name: given.name,
        kind: given.kind,
        unit: given.unit,
        exchange_rates: given.rate ? { USD: given.rate } : {},
      });
      say(`Account ${given.account_id} created for ${customer}; its ledger side opens a moment later.`);
      direct.reset();
      await render();
    });
  } },
    h("h2", {}, "Create an account directly (no template)"),
    h("div", { class: "fields" },
      field("Account id", h("input", { name: "account_id", required: true })),
      field("Name", h("input", { name: "name", required: true })),
      field("Kind", h("select", { name: "kind" }, h("option", {}, "loyalty"), h("option", {}, "store_credit"))),
      field("Unit", h("input", { name: "unit", required: true, placeholder: "points:loyalty" })),
      field("1 point is worth (USD)", h("input", { name: "rate", inputmode: "decimal", placeholder: "0.01" }))),
    h("div", { class: "actions" }, create));
  render().catch((error) => accounts.replaceChildren(h("p", { class: "empty" }, sentence(error))));
  return [...parts, h("h2", {}, `Point accounts of ${customer}`), accounts, deposit, spend, direct,
    h("p", {}, h("a", { href: `#/credits?customer=${encodeURIComponent(customer)}` }, `Store credits of ${customer}`))];
}

function accountView() {
  const account = params().get("id");
  const customer = params().get("customer");
  const path = `/v1/accounts/${encodeURIComponent(account)}`;
  const summary = h("section", { class: "card" }, h("p", {}, "Loading…"));
  const chart = h("div");
  const entries = [];
  let current = null;
  gateway.get(`${path}/balance`).then((b) => {
    current = b;
    summary.replaceChildren(h("dl", { class: "totals" },
      h("dt", {}, "Balance"), h("dd", { "data-field": "balance" }, b.balance),
      h("dt", {}, "Holds"), h("dd", { "data-field": "holds" }, b.holds),
      h("dt", {}, "Available"), h("dd", { "data-field": "available" }, b.available),
      h("dt", {}, "Unit"), h("dd", {}, b.unit)));
  }).catch((error) => summary.replaceChildren(h("p", { class: "empty" }, sentence(error))));
  const history = pagedList(["When", "Transaction", "Kind", "Status", "Amount", "Committed", "Description"],
    "No transactions yet.", async (cursor) => {
      const page = await gateway.get(`${path}/transactions`, { page_size: PAGE, ...(cursor ? { cursor } : {}) });
      entries.push(...page.transactions);
      if (current === null) current = await gateway.get(`${path}/balance`);
      chart.replaceChildren(balanceChart(balancesOverTime(current.balance, entries)));
      return {
        rows: page.transactions.map((t) => h("tr", { "data-transaction": t.transaction_id },
          cell(new Date(t.created_at).toLocaleString()), cell(t.transaction_id), cell(t.kind), cell(t.status),
          cell(t.amount, true), cell(t.committed_amount, true), cell(t.description))),
        next: page.next_cursor,
      };
    });
  return [h("h1", {}, `Account ${account}`),
    customer ? h("p", {}, h("a", { href: `#/customers?id=${encodeURIComponent(customer)}` }, `Back to ${customer}`)) : null,
    summary, h("h2", {}, "Balance over time"), chart, h("h2", {}, "History"), history];
}

// --- store credits ---------------------------------------------------------------------------

function creditsView() {
  const customer = params().get("customer");
  const parts = [h("h1", {}, "Store credits"),
    searchForm("Customer id", "customer", customer, (id) => go("credits", { customer: id }))];
  const secret = h("div", { "aria-live": "polite" });
  const list = h("div");
  const render = () => {
    if (!customer) return;
    list.replaceChildren(pagedList(
      ["Credit", "Name", "Code", "Amount", "Balance", "Available", "Expires", "Status", ""],
      "This customer has no store credits.", async (offset) => {
        const page = await gateway.get(`/v1/customers/${encodeURIComponent(customer)}/store-credits`,
          { limit: PAGE, offset: offset ?? 0 });
        return { rows: page.store_credits.map(creditRow), next: page.next_offset };
      }));
  };
  const creditRow = (c) => {
    const edit = h("button", { type: "button", class: "secondary" }, "Edit");
    const row = h("tr", { "data-credit": c.store_credit_id },
      cell(c.store_credit_id), cell(c.name), cell(c.code),
      cell(money(c.amount, c.currency), true), cell(money(c.balance, c.currency), true),
      cell(money(c.available, c.currency), true),
      cell(c.expiry_date ? new Date(c.expiry_date).toLocaleString() : "never"),
      h("td", {}, h("span", { class: `badge ${c.usable ? "good" : "bad"}` }, c.usable ? "usable" : c.unusable_code)),
      h("td", {}, edit));
    let editing = null;
    edit.addEventListener("click", () => {
      if (editing) {
        editing.remove();
        editing = null;
      } else {
        editing = h("tr", {}, h("td", { colspan: 9 }, editForm(c)));
        row.after(editing);
      }
      edit.textContent = editing ? "Close" : "Edit";
    });
    return row;
  };
  const editForm = (c) => {
    const save = h("button", { type: "submit" }, "Save");
    const form = h("form", { class: "card", onsubmit: (event) => {
      event.preventDefault();
      const given = values(form);
      act(save, async () => {
        const change = {};
        const clear = [];
        if (given.name !== c.name) change.name = given.name;
        if ((given.description ?? "") !== c.description) change.description = given.description ?? "";
        if (given.amount) change.amount = whole(given.amount, "The amount");
        for (const name of ["external_id", "customer_id"]) {
          if (given[name] === undefined && c[name]) clear.push(name);
          else if (given[name] !== undefined && given[name] !== c[name]) change[name] = given[name];
        }
        for (const name of ["active_date", "expiry_date"]) {
          if (given[name] === undefined && c[name]) clear.push(name);
          else if (given[name] !== undefined && given[name] !== localMinute(c[name])) change[name] = moment(given[name]);
        }
        if (given.disabled !== c.disabled) change.disabled = given.disabled;
        if (clear.length) change.clear = clear;
        await gateway.send("PATCH", `/v1/store-credits/${encodeURIComponent(c.store_credit_id)}`, change);
        say(`Store credit ${c.store_credit_id} updated.`);
        render();
      });
    } },
      h("h2", {}, `Edit ${c.name}`),
      h("p", {}, "The amount may only be raised above the balance; the difference is credited. An emptied field is cleared."),
      h("div", { class: "fields" },
        field("Name", h("input", { name: "name", value: c.name, required: true })),
        field("Description", h("input", { name: "description", value: c.description })),
        field(`Amount (minor units; balance ${c.balance ?? "?"})`, h("input", { name: "amount", type: "number", min: 1, step: 1 })),
        field("External id", h("input", { name: "external_id", value: c.external_id })),
        field("Active date", h("input", { name: "active_date", type: "datetime-local", value: localMinute(c.active_date) })),
        field("Expiry date", h("input", { name: "expiry_date", type: "datetime-local", value: localMinute(c.expiry_date) })),
        field("Customer", h("input", { name: "customer_id", value: c.customer_id })),
        check("Disabled", h("input", { name: "disabled", type: "checkbox", checked: c.disabled }))),
      h("div", { class: "actions" }, save));
    return form;
  };
  const issue = h("button", { type: "submit" }, "Create store credit");
  const balance = h("output", { name: "balance" }, "-");
  const form = h("form", { class: "card", "aria-labelledby": "new-credit", onsubmit: (event) => {
    event.preventDefault();
    const given = values(form);
    act(issue, async () => {
      const body = {
        store_credit_id: newId("sc"),
        name: given.name,
        description: given.description || "",
        amount: whole(given.amount, "The amount"),
        currency: (given.currency || "USD").toUpperCase(),
        allow_balance_owing: given.allow_balance_owing,
        disabled: given.disabled,
        reason: "goodwill",
      };
      if (given.code) body.code = given.code; // sealed by the gateway before it leaves it
      if (given.external_id) body.external_id = given.external_id;
      if (given.active_date) body.active_date = moment(given.active_date);
      if (given.expiry_date) body.expiry_date = moment(given.expiry_date);
      if (given.customer_id) body.customer_id = given.customer_id;
      const made = await gateway.post("/v1/store-credits", body);
      form.reset();
      balance.textContent = "-";
      // The code, once, to the admin who made it: not kept, not in a URL, gone on leaving.
      secret.replaceChildren(h("section", { class: "card" },
        h("h2", {}, "New store credit"),
        h("p", {}, `${body.name} (${made.produced.store_credit_id}): its code, shown this once:`),
        h("p", { class: "secret", "data-field": "new-code" }, made.produced.code)));
      say(`Store credit ${made.produced.store_credit_id} created.`);
      if (body.customer_id && body.customer_id === customer) render();
    });
  } },
    h("h2", { id: "new-credit" }, "New store credit"),
    h("div", { class: "fields" },
      field("Name", h("input", { name: "name", required: true })),
      field("Description", h("input", { name: "description" })),
      field("Code (empty: generated)", h("input", { name: "code", autocomplete: "off" })),
      field("Amount (minor units: 5495 = 54.95)", h("input", { name: "amount", type: "number", min: 1, step: 1, required: true,
        oninput: (event) => { balance.textContent = event.target.value || "-"; } })),
      field("Balance (the amount, at first)", balance),
      field("Currency", h("input", { name: "currency", value: "USD", maxlength: 3 })),
      check("Allow balance owing", h("input", { name: "allow_balance_owing", type: "checkbox" })),
      field("External id", h("input", { name: "external_id" })),
      field("Active date", h("input", { name: "active_date", type: "datetime-local" })),
      field("Expiry date", h("input", { name: "expiry_date", type: "datetime-local" })),
      check("Disabled", h("input", { name: "disabled", type: "checkbox" })),
      field("Customer", h("input", { name: "customer_id", value: customer || "" }))),
    h("div", { class: "actions" }, issue));
  const lookup = h("button", { type: "submit", class: "secondary" }, "Look up");
  const found = h("div");
  const byCode = h("form", { class: "card", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const code = byCode.elements.code.value.trim();
    act(lookup, async () => {
      const answer = await gateway.post("/v1/store-credits/lookup", { code });
      byCode.reset();
      found.replaceChildren(table(["Credit", "Name", "Code", "Balance", "Customer", "Status"], [creditRowShort(answer.store_credit)], ""));
    });
  } },
    h("h2", {}, "Find a credit by its code"),
    h("div", { class: "fields" }, field("Code", h("input", { name: "code", required: true, autocomplete: "off" }))),
    h("div", { class: "actions" }, lookup), found);
  const creditRowShort = (c) => h("tr", {}, cell(c.store_credit_id), cell(c.name), cell(c.code),
    cell(money(c.balance, c.currency), true), cell(c.customer_id), cell(c.usable ? "usable" : c.unusable_code));
  render();
  return [...parts, customer ? h("h2", {}, `Store credits of ${customer}`) : null, list, secret, form, byCode];
}

// --- orders, fulfillment and returns ----------------------------------------------------------

const POINT_PARTS = new Set(["reverse_points_spent", "reverse_deposit", "reverse_points_earned"]);

/** What a return part gave back (or took back), in words. */
function givenBack(part, currency) {
  const reversal = part.transaction_id ? ` (reversal of ${part.transaction_id})` : "";
  const because = part.code ? `; ${part.code}: ${part.reason}` : "";
  const said = {
    reverse_points_spent: `points back to ${part.account_id}${reversal}`,
    restore_store_credit: `back to store credit ${part.store_credit_id}${reversal}`,
    reverse_deposit: `points deposited taken back from ${part.account_id}${reversal}`,
    reverse_points_earned: `points earned taken back from ${part.account_id}${reversal}`,
    issue_store_credit: `new store credit ${part.store_credit_id ?? "(being issued)"}`,
    refund_due: `${money(part.amount, currency)} for the payment provider to refund`,
  }[part.kind];
  return `${said ?? part.kind}${because}`;
}

function ordersView() {
  const orderId = params().get("id");
  const parts = [h("h1", {}, "Orders"), searchForm("Order id", "order_id", orderId, (id) => go("orders", { id }))];
  if (!orderId) return parts;
  const path = `/v1/orders/${encodeURIComponent(orderId)}`;
  const order = h("div", {}, h("p", {}, "Loading…"));
  const fulfillment = h("div", {}, h("p", {}, "Loading…"));
  const renderOrder = async () => {
    const { order: o } = await gateway.get(path);
    order.replaceChildren(
      h("p", {}, `Order ${o.number} of `, h("a", { href: `#/customers?id=${encodeURIComponent(o.customer_id)}` }, o.customer_id),
        `: `, h("span", { class: "badge", "data-field": "order-status" }, o.status),
        o.payment_status ? h("span", { class: "badge bad" }, `payment ${o.payment_status}`) : null),
      h("h2", {}, "Items"),
      table(["Line item", "Kind", "Name", "Quantity", "Amount", "Points"], o.line_items.map((i) => h("tr", {},
        cell(i.line_item_id), cell(i.kind), cell(i.name), cell(i.quantity, true),
        cell(money(i.amount, o.currency), true), cell(i.points, true))), "No items."),
      h("h2", {}, "Store credits applied"),
      table(["Application", "Credit", "Code", "Status", "Applied"], o.applied_credits.map((c) => h("tr", {},
        cell(c.application_id), cell(c.name), cell(c.code), cell(c.status), cell(money(c.applied, o.currency), true))),
        "No store credit applied."),
      h("h2", {}, "Totals"),
      h("dl", { class: "totals" }, Object.entries(o.totals).flatMap(([name, value]) =>
        [h("dt", {}, name.replaceAll("_", " ")), h("dd", { "data-field": name }, money(value, o.currency))])),
    );
    if (o.payment) {
      const { provider_reference_name: provider, amount, reference } = o.payment;
      order.append(h("p", {}, `Paid through ${provider}: ${money(amount, o.currency)} (${reference})`));
    }
  };
  const renderFulfillment = async () => {
    let f;
    try {
      ({ fulfillment: f } = await gateway.get(`${path}/fulfillment`));
    } catch (error) {
      if (error instanceof Problem && error.code === "fulfillment_not_found") {
        fulfillment.replaceChildren(h("p", { class: "empty" }, "Not checked out yet: nothing to fulfil."));
        return null;
      }
      throw error;
    }
    const itemRows = f.items.map((i) => {
      const actions = h("td");
      if (i.kind === "manual" && i.status === "pending") {
        const ship = h("button", { type: "button", class: "secondary" }, "Mark fulfilled");
        ship.addEventListener("click", () => act(ship, async () => {
          await gateway.post(`${path}/fulfillment/items/${encodeURIComponent(i.fulfillment_item_id)}/fulfill`, {});
          say(`${i.name} fulfilled.`);
          await renderFulfillment();
        }));
        actions.append(ship);
      }
      if (i.status === "failed") actions.append(retryButton(orderId, i, renderFulfillment));
      if (i.line_item_id && i.status === "fulfilled" && i.returned_quantity < i.quantity && ["manual", "points_spent"].includes(i.kind)) {
        actions.append(returnForm(i));
      }
      return h("tr", { "data-item": i.fulfillment_item_id },
        cell(i.name), cell(i.kind), h("td", {}, h("span", { class: `badge ${i.status === "failed" ? "bad" : ""}` }, i.status)),
        cell(i.amount, true), cell(`${i.returned_quantity} of ${i.quantity}`), cell(i.code ? `${i.code}: ${i.reason}` : ""), actions);
    });
    const returnRows = f.returns.flatMap((r) => r.parts.map((p) => h("tr", { "data-return": r.return_id },
      cell(r.return_id), cell(r.line_item_id), cell(r.status), cell(p.kind), cell(p.status),
      cell(POINT_PARTS.has(p.kind) ? `${p.amount} points` : money(p.amount, f.currency), true),
      cell(givenBack(p, f.currency)))));
    fulfillment.replaceChildren(
      h("p", {}, "Payment ", h("span", { class: "badge", "data-field": "payment-status" }, f.payment_status)),
      table(["Item", "Kind", "Status", "Amount", "Returned", "Problem", ""], itemRows, "No items."),
      h("h2", {}, "Returns"),
      table(["Return", "Line item", "Status", "Part", "Part status", "Amount", "Given back as"], returnRows, "Nothing returned."));
    return f;
  };
  const returnForm = (item) => {
    const button = h("button", { type: "submit", class: "secondary" }, "Mark returned");
    const form = h("form", { class: "inline", onsubmit: (event) => {
      event.preventDefault();
      const given = values(form);
      act(button, async () => {
        const returnId = newId("return");
        await gateway.post(`${path}/returns`, {
          return_id: returnId,
          line_item_id: item.line_item_id,
          quantity: whole(given.quantity || "1", "The quantity"),
          reason: given.reason || "",
        });
        say("Return recorded: giving back what paid for it…");
        // The return completes as the ledger and store-credit answer: follow it.
        for (let waited = 0; waited < 60_000; waited += 500) {
          const f = await renderFulfillment();
          const done = f && f.returns.find((r) => r.return_id === returnId && r.status !== "in_progress");
          if (done) {
            say(`Return ${done.status}.`, done.status === "completed" ? "ok" : "error");
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        say("The return is still in progress: look again in a moment.", "error");
      }, "Returning…");
    } },
      h("input", { name: "quantity", type: "number", min: 1, max: item.quantity - item.returned_quantity, value: 1, "aria-label": "Quantity" }),
      h("input", { name: "reason", placeholder: "reason", "aria-label": "Reason" }), button);
    return form;
  };
  renderOrder().catch((error) => order.replaceChildren(h("p", { class: "empty" }, sentence(error))));
  renderFulfillment().catch((error) => fulfillment.replaceChildren(h("p", { class: "empty" }, sentence(error))));
  return [...parts, order, h("h2", {}, "Fulfillment"), fulfillment];
}

// --- operations -------------------------------------------------------------------------------

const SERVICES = ["ledger", "store-credit", "order", "fulfillment"];

/** Retry a failed fulfillment item (the ledger is asked again); then `after()`. */
function retryButton(orderId, item, after) {
  const retry = h("button", { type: "button", class: "secondary" }, "Retry");
  retry.addEventListener("click", () => act(retry, async () => {
    const path = `/v1/orders/${encodeURIComponent(orderId)}/fulfillment/items/${encodeURIComponent(item.fulfillment_item_id)}/retry`;
    const result = await gateway.post(path, {});
    say(`${item.name}: attempt ${result.produced.attempt} sent to the ledger.`);
    await after();
  }, "Retrying…"));
  return retry;
}

/** The fulfillments that need a person: failed items (retry them) and failed return parts. */
function problemsList() {
  const holder = h("div");
  const render = () => holder.replaceChildren(pagedList(
    ["Order", "Customer", "What", "Problem", "Attempts", ""],
    "Nothing needs a person: every item and return went through.", async (after) => {
      const page = await gateway.get("/v1/fulfillment-problems", { limit: PAGE, ...(after ? { after } : {}) });
      const rows = page.fulfillments.flatMap((f) => {
        const order = h("a", { href: `#/orders?id=${encodeURIComponent(f.order_id)}` }, f.number);
        const items = f.items.filter((i) => i.status === "failed").map((i) => h("tr", { "data-problem": i.fulfillment_item_id },
          h("td", {}, order.cloneNode(true)), cell(f.customer_id), cell(`${i.name} (${i.kind})`),
          cell(`${i.code}: ${i.reason}`), cell(i.attempts, true), h("td", {}, retryButton(f.order_id, i, render))));
        const parts = f.returns.flatMap((r) => r.parts.filter((p) => p.status === "failed").map((p) => h("tr", { "data-problem": r.return_id },
          h("td", {}, order.cloneNode(true)), cell(f.customer_id), cell(`return ${r.return_id}: ${p.kind}`),
          cell(`${p.code}: ${p.reason}`), cell("-"), cell(""))));
        return [...items, ...parts];
      });
      return { rows, next: page.next_after };
    }));
  render();
  return holder;
}

/** Each service consumer group's lag per topic: what is written and not yet handled. */
function lagTable() {
  const holder = h("div", { "aria-busy": "true" }, h("p", {}, "Loading…"));
  const refresh = h("button", { type: "button", class: "secondary" }, "Refresh");
  const render = async () => {
    const { groups } = await gateway.get("/v1/consumer-lag");
    const rows = groups.flatMap((g) => (g.topics.length ? g.topics : [null]).map((t) => h("tr", { "data-group": g.group, "data-topic": t ? t.topic : "" },
      cell(g.group), cell(g.service), cell(t ? t.topic : "nothing committed yet"),
      h("td", { class: "number" }, h("span", { class: `badge ${t && t.lag > 0 ? "bad" : "good"}` }, t ? t.lag : 0)),
      cell(t ? t.partitions.map((p) => `${p.partition}: ${p.committed ?? "-"} of ${p.end ?? "-"}`).join(", ") : "-"))));
    holder.replaceChildren(table(["Group", "Service", "Topic", "Lag", "Partitions (committed of end)"], rows,
      "No service consumer group is running."));
  };
  refresh.addEventListener("click", () => act(refresh, render, "Refreshing…"));
  render()
    .catch((error) => holder.replaceChildren(h("p", { class: "empty" }, sentence(error))))
    .finally(() => holder.removeAttribute("aria-busy"));
  return [holder, h("div", { class: "actions" }, refresh)];
}

function operationsView() {
  const service = params().get("service") || "ledger";
  const picker = h("nav", { "aria-label": "Services" }, SERVICES.map((s) =>
    h("a", { href: `#/operations?service=${s}`, "aria-current": s === service ? "page" : null }, s)));
  const redrive = (d) => {
    if (d.redacted) return cell("redacted: send a corrected message");
    const button = h("button", { type: "button", class: "secondary" }, "Re-drive");
    button.addEventListener("click", () => act(button, async () => {
      const sent = await gateway.post(`/v1/dead-letters/${service}/${d.offset}/redrive`, {});
      say(`Sent back to ${sent.sent_to.topic} [${sent.sent_to.partition}] @${sent.sent_to.offset}: ${service} handles it again (a message it has handled is skipped).`);
    }, "Sending…"));
    return h("td", {}, button);
  };
  const list = pagedList(["Parked", "Reason", "Detail", "From", "Type", "Key", ""],
    `Nothing parked: ${service} has handled everything it was sent.`, async (before) => {
      const page = await gateway.get(`/v1/dead-letters/${service}`, { limit: PAGE, ...(before !== null && before !== undefined ? { before } : {}) });
      return {
        rows: page.dead_letters.map((d) => h("tr", { "data-offset": d.offset },
          cell(new Date(d.timestamp).toLocaleString()), cell(d.reason), cell(d.detail),
          cell(`${d.original_topic} [${d.original_partition}] @${d.original_offset}`), cell(d.type), cell(d.key),
          redrive(d))),
        next: page.next_before,
      };
    });
  return [h("h1", {}, "Operations"),
    h("h2", {}, "Needs a person"), problemsList(),
    h("h2", {}, "Consumer lag"), ...lagTable(),
    h("h2", {}, "Dead letters"), picker,
    h("p", {}, "What a service could not decode or handle, with the reason. Once the cause is fixed, re-drive "
      + "one: it goes back to its command or query topic as it was sent. A dead letter of an event or result "
      + "topic goes back with ", h("code", {}, `storecredit dead-letters redrive ${service}`), "."), list];
}

// --- the router -------------------------------------------------------------------------------

const VIEWS = {
  templates: templatesView,
  customers: customersView,
  accounts: accountView,
  credits: creditsView,
  orders: ordersView,
  operations: operationsView,
};

function show() {
  const route = (location.hash.slice(2).split("?")[0]) || "templates";
  const nav = document.getElementById("nav");
  nav.hidden = !signedIn();
  if (!signedIn()) {
    view.replaceChildren(...signInView());
    return;
  }
  for (const link of nav.querySelectorAll("a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${route === "accounts" ? "customers" : route}`);
    if (link.hasAttribute("aria-current")) link.setAttribute("aria-current", "page");
  }
  const make = VIEWS[route] || templatesView;
  view.replaceChildren(...make().filter((part) => part !== null));
  view.focus();
}

document.getElementById("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(TOKEN);
  say("Signed out.");
  show();
});
window.addEventListener("hashchange", () => {
  say(sayOnArrival);
  sayOnArrival = "";
  show();
});
show();
