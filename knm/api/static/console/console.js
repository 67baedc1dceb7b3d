// knm console: a client of knm's public HTTP API (docs/http-api.md), nothing more.
//
// Every action is one or more calls of /v2 with the token from PUT /v2/api_auth, kept in
// sessionStorage (this tab only; gone when it closes). Text from the API is only ever put in
// the page as text (textContent), never as markup: carrier messages are not ours to trust.
"use strict";

(() => {
  const API = "/v2";
  const SESSION_KEY = "knm.console.session";
  const NUMBERS_PAGE = 20;
  const IMPORT_CHUNK = 100;
  const E164 = /^\+[1-9][0-9]{1,17}$/;

  let session = null; // {token, accountId, accountName}
  const search = {params: null, offset: 0, results: [], selected: new Set(), generation: 0,
                  request: 0, fromCache: false};
  const owned = {all: [], page: 0};

  const byId = (id) => document.getElementById(id);

  /** An element with attributes and children (strings become text nodes). */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // -- the API ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body, fallback) {
      const data = body && typeof body.data === "object" && body.data !== null ? body.data : {};
      super(data.message || (body && body.message) || fallback || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
      this.data = data;
      this.slug = data.error || (body && body.message) || (status ? `http_${status}` : "network");
    }
  }

  async function api(method, path, {query = null, data = undefined, auth = true} = {}) {
    const url = new URL(API + path, window.location.origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== "" && value !== null && value !== undefined) url.searchParams.set(key, value);
    }
    const headers = {Accept: "application/json"};
    const init = {method, headers};
    if (data !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify({data});
    }
    if (auth && session) headers["X-Auth-Token"] = session.token;
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      throw new ApiError(0, null, "the API did not answer (network error)");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok || !body || body.status === "error") {
      const error = new ApiError(response.status, body,
                                 body ? null : `HTTP ${response.status} without a JSON body`);
      if (response.status === 401 && auth && session) {
        logout("Your session has expired or was revoked; log in again.");
      }
      throw error;
    }
    return body;
  }

  const accountPath = (tail = "") => `/accounts/${encodeURIComponent(session.accountId)}` +
    `/phone_numbers${tail}`;

  // -- showing errors ----------------------------------------------------------------------

  /** The parts of an error worth showing: message, slug, cause, carrier and what it said. */
  function errorParts(error) {
    const json = error instanceof ApiError ? error.data : (error || {});
    return {
      message: (error instanceof ApiError ? error.message : json.message) || "error",
      slug: (error instanceof ApiError ? error.slug : json.error) || "",
      status: error instanceof ApiError ? error.status : json.code,
      cause: json.cause,
      carrier: json.carrier,
      carrierMessage: json.carrier_message,
    };
  }

  function errorNodes(error) {
    const parts = errorParts(error);
    const nodes = [el("span", {class: "message", "data-testid": "error-message",
                               text: parts.message})];
    if (parts.slug) {
      nodes.push(" ", el("code", {class: "slug", "data-testid": "error-slug", text: parts.slug}));
    }
    if (parts.status) nodes.push(el("span", {class: "status", text: ` HTTP ${parts.status}`}));
    if (parts.cause) nodes.push(el("span", {class: "cause", text: ` — ${parts.cause}`}));
    if (parts.carrier) {
      nodes.push(el("div", {class: "carrier", "data-testid": "error-carrier",
                            text: `${parts.carrier}: ${parts.carrierMessage || ""}`}));
    }
    return nodes;
  }

  function showError(box, error) {
    box.replaceChildren(...errorNodes(error));
    box.hidden = false;
  }

  function clearError(box) {
    box.replaceChildren();
    box.hidden = true;
  }

  // -- session -----------------------------------------------------------------------------

  function loadSession() {
    try {
      const saved = JSON.parse(window.sessionStorage.getItem(SESSION_KEY) || "null");
      if (saved && saved.token && saved.accountId) return saved;
    } catch (err) {
      // a damaged entry is the same as none
    }
    return null;
  }

  async function login(event) {
    event.preventDefault();
    const box = byId("login-error");
    clearError(box);
    const key = byId("api-key").value.trim();
    byId("login-submit").disabled = true;
    try {
      const body = await api("PUT", "/api_auth", {data: {api_key: key}, auth: false});
      session = {token: body.auth_token, accountId: body.data.account_id,
                 accountName: body.data.account_name || body.data.account_id};
      window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
      byId("api-key").value = "";
      enter();
    } catch (err) {
      showError(box, err);
    } finally {
      byId("login-submit").disabled = false;
    }
  }

  function logout(message) {
    session = null;
    window.sessionStorage.removeItem(SESSION_KEY);
    byId("app").hidden = true;
    byId("session").hidden = true;
    byId("login").hidden = false;
    const box = byId("login-error");
    if (message) {
      box.replaceChildren(el("span", {class: "message", "data-testid": "error-message",
                                      text: message}));
      box.hidden = false;
    } else {
      clearError(box);
    }
    byId("api-key").focus();
  }

  function enter() {
    byId("login").hidden = true;
    byId("app").hidden = false;
    byId("session").hidden = false;
    byId("session-account").textContent = session.accountName;
    byId("session-account").title = session.accountId;
    selectTab("search");
    loadCreationStates();
    loadNumbers();
    byId("search-prefix").focus();
  }

  // -- tabs --------------------------------------------------------------------------------

  const TABS = ["search", "numbers", "import"];

  function selectTab(name) {
    for (const tab of TABS) {
      const chosen = tab === name;
      const button = byId(`tab-${tab}`);
      button.setAttribute("aria-selected", String(chosen));
      button.tabIndex = chosen ? 0 : -1;
      byId(`panel-${tab}`).hidden = !chosen;
    }
  }

  function tabKeys(event) {
    const at = TABS.indexOf(event.target.id.replace("tab-", ""));
    const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
    if (at < 0 || !step) return;
    const next = TABS[(at + step + TABS.length) % TABS.length];
    selectTab(next);
    byId(`tab-${next}`).focus();
  }

  // -- search and buy ----------------------------------------------------------------------

  function locality(row) {
    return row.locality && typeof row.locality === "object" ? row.locality : {};
  }

  function price(row) {
    const value = row.price ?? row.rate ?? (row.cost && row.cost.amount);
    if (value === undefined || value === null || value === "") return "";
    const currency = row.currency || (row.cost && row.cost.currency) || "";
    return `${value}${currency ? " " + currency : ""}`;
  }

  async function runSearch(offset) {
    const params = search.params;
    const asked = (search.request += 1);
    const box = byId("search-error");
    clearError(box);
    for (const id of ["search-submit", "search-prev", "search-next"]) byId(id).disabled = true;
    byId("search-summary").textContent = "Searching…";
    let report = null;
    try {
      const body = await api("GET", accountPath(), {
        query: {prefix: params.prefix, quantity: params.quantity, offset, country: params.country},
      });
      if (asked !== search.request) return; // a newer search is on its way
      search.offset = offset;
      search.results = Array.isArray(body.data) ? body.data : [];
      report = body.carriers;
    } catch (err) {
      if (asked !== search.request) return;
      search.results = [];
      showError(box, err);
      report = err instanceof ApiError ? (err.body.carriers || err.data.carriers) : null;
    } finally {
      byId("search-submit").disabled = false;
    }
    // a later page comes from the search cache and asked nobody: keep the first page's report
    search.fromCache = offset > 0 && !!report && Object.keys(report).length === 0;
    if (!search.fromCache) renderCarriers(report);
    search.selected.clear();
    renderResults();
  }

  function submitSearch(event) {
    event.preventDefault();
    performance.mark("knm-search-start");
    search.params = {
      prefix: byId("search-prefix").value.trim(),
      quantity: Math.max(1, parseInt(byId("search-quantity").value, 10) || 20),
      country: byId("search-country").value.trim().toUpperCase() || "US",
    };
    byId("buy-results").replaceChildren();
    clearError(byId("buy-error"));
    runSearch(0);
  }

  function renderResults() {
    const table = byId("search-results");
    const rows = search.results;
    const withCarrier = rows.some((r) => r.carrier);
    const withPrice = rows.some((r) => price(r) !== "");
    const head = el("tr", {},
      el("th", {scope: "col"}, el("input", {type: "checkbox", id: "select-all",
        "aria-label": "Select every number on this page", "data-testid": "select-all",
        onchange: (e) => selectAll(e.target.checked)})),
      el("th", {scope: "col", text: "Number"}),
      el("th", {scope: "col", text: "State"}),
      el("th", {scope: "col", text: "City"}),
      el("th", {scope: "col", text: "Region"}),
      el("th", {scope: "col", text: "Rate center"}),
      el("th", {scope: "col", text: "Country"}),
      withCarrier ? el("th", {scope: "col", text: "Carrier"}) : null,
      withPrice ? el("th", {scope: "col", class: "num", text: "Price"}) : null);
    table.tHead.replaceChildren(head);
    const body = document.createDocumentFragment();
    for (const row of rows) {
      const place = locality(row);
      body.append(el("tr", {"data-testid": "search-row", "data-number": row.number},
        el("td", {}, el("input", {type: "checkbox", "aria-label": `Select ${row.number}`,
          "data-testid": "select-number", value: row.number,
          onchange: (e) => toggle(row.number, e.target.checked)})),
        el("td", {class: "number", text: row.number}),
        el("td", {text: row.state || ""}),
        el("td", {text: place.city || ""}),
        el("td", {text: place.region || place.state || ""}),
        el("td", {text: place.rate_center || ""}),
        el("td", {text: place.country || ""}),
        withCarrier ? el("td", {"data-testid": "result-carrier", text: row.carrier || ""}) : null,
        withPrice ? el("td", {class: "num", "data-testid": "result-price", text: price(row)})
          : null));
    }
    table.tBodies[0].replaceChildren(body);
    table.hidden = rows.length === 0;
    const first = search.offset + 1;
    const last = search.offset + rows.length;
    byId("search-summary").textContent = rows.length
      ? `${rows.length} number${rows.length === 1 ? "" : "s"} (${first}–${last})` +
        (search.fromCache ? " from the search cache" : "")
      : (byId("search-error").hidden ? "No numbers found." : "");
    byId("search-page").textContent = rows.length ? `Page ${pageOf(search.offset)}` : "";
    byId("search-prev").disabled = search.offset === 0;
    byId("search-next").disabled = rows.length < (search.params ? search.params.quantity : 1);
    byId("search-actions").hidden = rows.length === 0 && search.offset === 0;
    updateBuyButton();
    search.generation += 1;
    table.dataset.generation = String(search.generation);
    performance.mark("knm-search-rendered");
  }

  function pageOf(offset) {
    return Math.floor(offset / (search.params ? search.params.quantity : 1)) + 1;
  }

  function renderCarriers(report) {
    const box = byId("carriers");
    const entries = report && typeof report === "object" ? Object.entries(report) : [];
    const rows = entries.sort(([a], [b]) => a.localeCompare(b)).map(([name, r]) => {
      const error = r.error || null;
      return el("tr", {"data-testid": "carrier-row", "data-carrier": name,
                       "data-outcome": r.outcome, class: `outcome-${r.outcome}`},
        el("th", {scope: "row", text: name}),
        el("td", {"data-testid": "carrier-outcome", text: r.outcome.replace("_", " ")}),
        el("td", {class: "num", text: String(r.count ?? 0)}),
        el("td", {class: "num", text: (1000 * (r.seconds || 0)).toFixed(0)}),
        el("td", {"data-testid": "carrier-error"}, ...(error ? errorNodes(error) : [])));
    });
    byId("carrier-status").tBodies[0].replaceChildren(...rows);
    box.hidden = rows.length === 0;
  }

  function toggle(number, on) {
    if (on) search.selected.add(number);
    else search.selected.delete(number);
    updateBuyButton();
  }

  function selectAll(on) {
    for (const box of byId("search-results").querySelectorAll("[data-testid=select-number]")) {
      if (box.disabled) continue;
      box.checked = on;
      toggle(box.value, on);
    }
  }

  function updateBuyButton() {
    const count = search.selected.size;
    const button = byId("buy-selected");
    button.disabled = count === 0;
    button.textContent = count ? `Buy ${count} selected` : "Buy selected";
  }

  /** `data.success` / `data.error` of a collection answer, whatever its status. */
  function perNumber(bodyOrError) {
    const data = bodyOrError instanceof ApiError ? bodyOrError.body.data : bodyOrError.data;
    if (data && typeof data === "object" && (data.success || data.error)) {
      return {success: data.success || {}, error: data.error || {}};
    }
    return null;
  }

  async function buySelected() {
    const numbers = [...search.selected];
    if (!numbers.length) return;
    const list = byId("buy-results");
    const box = byId("buy-error");
    clearError(box);
    list.replaceChildren();
    const button = byId("buy-selected");
    button.disabled = true;
    button.textContent = "Buying…";
    let outcome = null;
    try {
      outcome = perNumber(await api("PUT", accountPath("/collection/activate"),
                                    {data: {numbers}}));
    } catch (err) {
      outcome = perNumber(err);
      if (!outcome) showError(box, err);
    }
    if (outcome) {
      for (const number of numbers) {
        const bought = outcome.success[number];
        const failed = outcome.error[number];
        if (bought) {
          const state = (bought._read_only && bought._read_only.state) || bought.state || "";
          list.append(el("li", {class: "ok", "data-testid": "buy-ok", "data-number": number},
            `Bought ${number}`, state ? ` — ${state}` : ""));
          search.selected.delete(number);
          markBought(number);
        } else if (failed) {
          const said = failed.cause === number ? {...failed, cause: undefined} : failed;
          list.append(el("li", {class: "failed", "data-testid": "buy-failed",
                                "data-number": number},
            el("span", {class: "number", text: `${number}:`}), " ", ...errorNodes(said)));
        }
      }
      loadNumbers();
    }
    updateBuyButton();
  }

  function markBought(number) {
    const row = byId("search-results").querySelector(`tr[data-number="${CSS.escape(number)}"]`);
    if (!row) return;
    row.classList.add("bought");
    const box = row.querySelector("input[type=checkbox]");
    box.checked = false;
    box.disabled = true;
    row.cells[2].textContent = "bought";
  }

  // -- the account's numbers ---------------------------------------------------------------

  // Kazoo's timestamps are Gregorian seconds (since year 0), not Unix seconds
  const GREGORIAN_OFFSET = 62167219200;

  function created(entry) {
    if (typeof entry.created !== "number") return "";
    const unix = entry.created > GREGORIAN_OFFSET ? entry.created - GREGORIAN_OFFSET
      : entry.created;
    return new Date(unix * 1000).toISOString().replace("T", " ").slice(0, 16);
  }

  async function loadNumbers() {
    const box = byId("numbers-error");
    clearError(box);
    byId("numbers-summary").textContent = "Loading…";
    try {
      const body = await api("GET", accountPath());
      const listed = (body.data && body.data.numbers) || {};
      owned.all = Object.entries(listed).map(([number, entry]) => ({number, ...entry}))
        .sort((a, b) => a.number.localeCompare(b.number));
    } catch (err) {
      owned.all = [];
      if (!session) return;
      showError(box, err);
    }
    const select = byId("numbers-state");
    const chosen = select.value;
    const states = [...new Set(owned.all.map((n) => n.state))].sort();
    select.replaceChildren(el("option", {value: "", text: "All states"}),
      ...states.map((s) => el("option", {value: s, text: s})));
    select.value = states.includes(chosen) ? chosen : "";
    renderNumbers();
  }

  function filteredNumbers() {
    const state = byId("numbers-state").value;
    return state ? owned.all.filter((n) => n.state === state) : owned.all;
  }

  function renderNumbers() {
    const shown = filteredNumbers();
    const pages = Math.max(1, Math.ceil(shown.length / NUMBERS_PAGE));
    owned.page = Math.min(owned.page, pages - 1);
    const start = owned.page * NUMBERS_PAGE;
    const rows = shown.slice(start, start + NUMBERS_PAGE).map((n) => {
      const place = locality(n);
      return el("tr", {"data-testid": "number-row", "data-number": n.number,
                       "data-state": n.state},
        el("th", {scope: "row", class: "number", text: n.number}),
        el("td", {"data-testid": "number-state", text: n.state || ""}),
        el("td", {text: [place.city, place.region || place.state].filter(Boolean).join(", ")}),
        el("td", {text: created(n)}),
        el("td", {}, el("button", {type: "button", class: "danger",
          "aria-label": `Release ${n.number}`, "data-testid": "release",
          onclick: () => release(n.number)}, "Release")));
    });
    byId("numbers-table").tBodies[0].replaceChildren(...rows);
    const total = owned.all.length;
    byId("numbers-summary").textContent = shown.length === total
      ? `${total} number${total === 1 ? "" : "s"}`
      : `${shown.length} of ${total} numbers`;
    byId("numbers-page").textContent = `Page ${owned.page + 1} of ${pages}`;
    byId("numbers-prev").disabled = owned.page === 0;
    byId("numbers-next").disabled = owned.page >= pages - 1;
  }

  async function release(number) {
    if (!window.confirm(`Release ${number}? The carrier is told and the number leaves ` +
                        "this account.")) return;
    const box = byId("numbers-error");
    clearError(box);
    try {
      await api("DELETE", accountPath(`/${encodeURIComponent(number)}`));
      byId("numbers-summary").textContent = `Released ${number}.`;
    } catch (err) {
      showError(box, err);
      return;
    }
    await loadNumbers();
    byId("numbers-summary").textContent = `Released ${number}. ` +
      byId("numbers-summary").textContent;
  }

  // -- CSV import --------------------------------------------------------------------------

  async function loadCreationStates() {
    const select = byId("import-state");
    let states = ["in_service"];
    try {
      const body = await api("GET", accountPath("/carriers_info"));
      const usable = body.data && body.data.usable_creation_states;
      if (Array.isArray(usable) && usable.length) states = usable;
    } catch (err) {
      // the import still works with Kazoo's default state
    }
    select.replaceChildren(...states.map((s) => el("option", {value: s, text: s})));
    select.value = states.includes("in_service") ? "in_service" : states[0];
  }

  /** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF. Returns [{line, cells}]. */
  function parseCsv(text) {
    const rows = [];
    let cells = [];
    let cell = "";
    let quoted = false;
    let line = 1;
    let rowLine = 1;
    for (let i = 0; i < text.length; i += 1) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') {
          cell += '"';
          i += 1;
        } else if (ch === '"') {
          quoted = false;
        } else {
          if (ch === "\n") line += 1;
          cell += ch;
        }
      } else if (ch === '"' && cell === "") {
        quoted = true;
      } else if (ch === ",") {
        cells.push(cell);
        cell = "";
      } else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[i + 1] === "\n") i += 1;
        cells.push(cell);
        rows.push({line: rowLine, cells});
        cells = [];
        cell = "";
        line += 1;
        rowLine = line;
      } else {
        cell += ch;
      }
    }
    if (cell !== "" || cells.length) {
      cells.push(cell);
      rows.push({line: rowLine, cells});
    }
    return rows;
  }

  /** E.164 for what the console accepts, or null: +… as is, 10 or 1+10 US digits. */
  function toE164(raw) {
    const cleaned = raw.replace(/[\s().-]/g, "");
    if (E164.test(cleaned)) return cleaned;
    if (/^[2-9][0-9]{9}$/.test(cleaned)) return `+1${cleaned}`;
    if (/^1[2-9][0-9]{9}$/.test(cleaned)) return `+${cleaned}`;
    return null;
  }

  const NUMBER_HEADERS = ["number", "numbers", "phone_number", "e164", "did", "tn"];

  /** Which lines to send, and the lines already refused (empty, not a number, repeated). */
  function numbersFromCsv(text) {
    const rows = parseCsv(text.replace(/^\uFEFF/, ""));
    let column = 0;
    let body = rows;
    const first = rows.find((r) => r.cells.some((c) => c.trim() !== ""));
    if (first && !/[0-9]/.test(first.cells.join(""))) {
      const names = first.cells.map((c) => c.trim().toLowerCase());
      const found = names.findIndex((n) => NUMBER_HEADERS.includes(n));
      column = found >= 0 ? found : 0;
      body = rows.filter((r) => r !== first);
    }
    const wanted = [];
    const refused = [];
    const seen = new Map();
    for (const row of body) {
      if (row.cells.every((c) => c.trim() === "")) continue;
      const raw = (row.cells[column] || "").trim();
      const number = toE164(raw);
      if (!number) {
        refused.push({line: row.line, value: raw, error: {
          message: "not a phone number: use E.164 (+14155550100) or 10 US digits",
          error: "invalid"}});
      } else if (seen.has(number)) {
        refused.push({line: row.line, value: raw, error: {
          message: `same number as line ${seen.get(number)}`, error: "duplicate"}});
      } else {
        seen.set(number, row.line);
        wanted.push({line: row.line, value: raw, number});
      }
    }
    return {wanted, refused};
  }

  async function importCsv(event) {
    event.preventDefault();
    const box = byId("import-error");
    clearError(box);
    const file = byId("import-file").files[0];
    if (!file) return;
    const state = byId("import-state").value;
    const {wanted, refused} = numbersFromCsv(await file.text());
    const failures = [...refused];
    const total = wanted.length + refused.length;
    let done = refused.length;
    let imported = 0;
    const progress = byId("import-progress");
    progress.max = Math.max(total, 1);
    progress.value = done;
    byId("import-status").hidden = false;
    byId("import-summary").textContent = "";
    byId("import-submit").disabled = true;
    const count = () => {
      progress.value = done;
      byId("import-count").textContent = `${done} of ${total} lines`;
    };
    count();
    for (let at = 0; at < wanted.length && session; at += IMPORT_CHUNK) {
      const chunk = wanted.slice(at, at + IMPORT_CHUNK);
      let outcome = null;
      let whole = null;
      try {
        outcome = perNumber(await api("PUT", accountPath("/collection"), {
          data: {numbers: chunk.map((w) => w.number), create_with_state: state}}));
      } catch (err) {
        outcome = perNumber(err);
        if (!outcome) whole = err;
      }
      for (const item of chunk) {
        if (outcome && outcome.success[item.number]) {
          imported += 1;
        } else {
          const error = whole ? errorParts(whole) : null;
          failures.push({line: item.line, value: item.value, error: whole
            ? {message: error.message, error: error.slug, cause: error.cause}
            : (outcome.error[item.number] || {message: "no answer for this number",
                                              error: "unknown"})});
        }
      }
      done += chunk.length;
      count();
    }
    byId("import-submit").disabled = false;
    failures.sort((a, b) => a.line - b.line);
    byId("import-summary").textContent =
      `${imported} imported, ${failures.length} not imported (of ${total} lines).`;
    const rows = failures.map((f) => el("tr", {"data-testid": "import-error-row",
                                               "data-line": f.line},
      el("td", {class: "num", text: String(f.line)}),
      el("td", {class: "number", text: f.value}),
      el("td", {}, ...errorNodes(f.error))));
    byId("import-errors").tBodies[0].replaceChildren(...rows);
    byId("import-errors").hidden = rows.length === 0;
    if (imported) loadNumbers();
  }

  // -- wiring ------------------------------------------------------------------------------

  function start() {
    byId("import-chunk").textContent = String(IMPORT_CHUNK);
    byId("login-form").addEventListener("submit", login);
    byId("logout").addEventListener("click", () => logout(null));
    for (const tab of TABS) {
      byId(`tab-${tab}`).addEventListener("click", () => selectTab(tab));
      byId(`tab-${tab}`).addEventListener("keydown", tabKeys);
    }
    byId("search-form").addEventListener("submit", submitSearch);
    byId("search-prev").addEventListener("click", () =>
      runSearch(Math.max(0, search.offset - search.params.quantity)));
    byId("search-next").addEventListener("click", () =>
      runSearch(search.offset + search.params.quantity));
    byId("buy-selected").addEventListener("click", buySelected);
    byId("numbers-state").addEventListener("change", () => {
      owned.page = 0;
      renderNumbers();
    });
    byId("numbers-refresh").addEventListener("click", loadNumbers);
    byId("numbers-prev").addEventListener("click", () => {
      owned.page = Math.max(0, owned.page - 1);
      renderNumbers();
    });
    byId("numbers-next").addEventListener("click", () => {
      owned.page += 1;
      renderNumbers();
    });
    byId("import-form").addEventListener("submit", importCsv);
    session = loadSession();
    if (session) enter();
    document.body.dataset.ready = "true";
  }

  start();
})();
