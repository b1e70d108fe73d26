// The emulator dashboard. Polls the control API once a second and drives it with JSON calls.
// Everything comes from this emulator's own origin; data is put in the page as text, never as
// HTML (journal paths are whatever clients sent). The control token, when the emulator needs
// one, comes from the URL fragment (#token=...) or the token form, and stays in sessionStorage.
"use strict";

(() => {
  const API = "/_emulator/";
  const TOKEN_KEY = "emulator-control-token";
  const POLL_MS = 1000;
  const JOBS_PER_PAGE = 50;
  const JOURNAL_ROWS = 100;
  // Account fields that count what is left to spend, shown up front.
  const BALANCE_FIELD = /credit|balance|quota|remaining|regular|permanent/i;

  const $ = (id) => document.getElementById(id);
  const ui = { jobsOffset: 0, needToken: false, seen: {} };

  class NeedToken extends Error {}

  // -- the control token -----------------------------------------------------------------------
  function takeTokenFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (!params.has("token")) return;
    const token = params.get("token");
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    params.delete("token");  // out of the address bar and the history
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }

  function askForToken() {
    ui.needToken = true;
    const form = $("token-form");
    if (form.hidden) {
      form.hidden = false;
      $("token-input").focus();
    }
    setStatus("waiting for the control token", true);
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    $("token-form").hidden = true;
    ui.needToken = false;
    refresh();
  });

  // -- calls ---------------------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const init = { method, headers, cache: "no-store", credentials: "same-origin" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      if (method !== "DELETE") init.body = JSON.stringify(body === undefined ? {} : body);
    }
    const response = await fetch(API + path, init);
    if (response.status === 401) {
      askForToken();
      throw new NeedToken("control token needed");
    }
    let data = null;
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) {
      const reason = (data && (data.error || data.message)) || response.statusText;
      throw new Error(`${method} /_emulator/${path}: ${response.status} ${reason}`);
    }
    return data;
  }

  // An action from a button or form: report its error, then show its effect at once.
  async function act(method, path, body) {
    try {
      const data = await api(method, path, body);
      hideMessage();
      return data;
    } catch (err) {
      if (!(err instanceof NeedToken)) showMessage(err.message);
      return undefined;
    } finally {
      refresh();
    }
  }

  // -- polling ---------------------------------------------------------------------------------------
  let running = null;
  let again = false;

  async function refresh() {
    if (running) { again = true; return running; }
    running = refreshUntilCurrent();
    try { await running; } finally { running = null; }
  }

  async function refreshUntilCurrent() {
    do {
      again = false;
      if (ui.needToken) return;
      const results = await Promise.allSettled(
        [loadClock(), loadJobs(), loadAccounts(), loadJournal(), loadFaults(), loadSettings()]);
      const failure = results.find((r) => r.status === "rejected" && !(r.reason instanceof NeedToken));
      if (failure) setStatus(failure.reason.message || String(failure.reason), true);
      else if (!ui.needToken) setStatus("updated " + new Date().toLocaleTimeString("en-GB"), false);
    } while (again);
  }

  async function poll() {
    if ($("live").checked && !document.hidden) await refresh();
    setTimeout(poll, POLL_MS);
  }

  // Re-render a part only when its data changed (keeps selections, focus and open details).
  function changed(part, data) {
    const text = JSON.stringify(data);
    if (ui.seen[part] === text) return false;
    ui.seen[part] = text;
    return true;
  }

  // -- clock -----------------------------------------------------------------------------------------
  async function loadClock() {
    const clock = await api("GET", "clock");
    setText($("clock-now"), fmtTime(clock.now) + " UTC");
    $("clock-now").dateTime = clock.now;
    setText($("clock-offset"), fmtDuration(clock.offset_seconds));
  }

  function advance(seconds) {
    return act("POST", "clock", { advance_seconds: seconds });
  }

  for (const button of document.querySelectorAll("[data-advance]")) {
    button.addEventListener("click", () => advance(Number(button.dataset.advance)));
  }
  $("advance-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const raw = $("advance-seconds").value;
    const seconds = Number(raw);
    if (raw === "" || !Number.isFinite(seconds) || seconds < 0) {
      showMessage("Advance by a number of seconds >= 0.");
      return;
    }
    advance(seconds);
  });

  // -- jobs ------------------------------------------------------------------------------------------
  const jobRows = new Map();

  async function loadJobs() {
    const page = await api("GET", `jobs?limit=${JOBS_PER_PAGE}&offset=${ui.jobsOffset}`);
    if (page.total > 0 && ui.jobsOffset >= page.total) {  // the jobs went (reset): back to the top
      ui.jobsOffset = 0;
      return loadJobs();
    }
    const first = page.total ? page.offset + 1 : 0;
    const last = page.offset + page.jobs.length;
    setText($("jobs-count"), page.total ? `${first}–${last} of ${fmtInt(page.total)}` : "");
    $("jobs-prev").disabled = page.offset === 0;
    $("jobs-next").disabled = last >= page.total;
    $("jobs-empty").hidden = page.total > 0;
    syncRows($("jobs").tBodies[0], jobRows, page.jobs, (job) => job.id,
      (job) => jobRow(job, page.kinds[job.kind]), updateJobRow);
  }

  function jobRow(job, kind) {
    const row = document.createElement("tr");
    const select = el("select", { "aria-label": "state for " + job.id });
    for (const state of (kind ? kind.states : [])) {
      select.append(el("option", { value: JSON.stringify(state) }, stateLabel(state, kind)));
    }
    if (kind) select.value = JSON.stringify(kind.success);
    const force = el("button", { type: "button", title: "pin the job to this state" }, "Force");
    force.addEventListener("click", () =>
      act("POST", "jobs/" + encodeURIComponent(job.id), { state: JSON.parse(select.value) }));
    row.cells_ = { state: el("span"), progress: el("progress", { max: "1" }), ends: el("td", { class: "mono" }) };
    row.append(
      el("td", { class: "mono", title: `${job.id}, created ${job.created_at}` }, job.id),
      el("td", {}, job.kind),
      el("td", { class: "mono" }, job.owner || ""),
      el("td", {}, row.cells_.state, row.cells_.progress),
      row.cells_.ends,
      el("td", {}, el("div", { class: "force" }, select, force)),
    );
    return row;
  }

  // Numeric states (kreado's 1..5) say little by themselves: name the final ones.
  function stateLabel(state, kind) {
    if (typeof state === "string") return state;
    const role = state === kind.success ? "success" : state === kind.failure ? "failure"
      : kind.final.includes(state) ? "final" : "";
    return role ? `${state} (${role})` : String(state);
  }

  function updateJobRow(row, job) {
    const cells = row.cells_;
    const signature = JSON.stringify([job.state, job.outcome, job.forced]);
    if (cells.state.dataset.signature !== signature) {
      cells.state.dataset.signature = signature;
      const badge = el("span", { class: "state " + (job.outcome || "running"), "data-state": String(job.state) },
        String(job.state));
      cells.state.replaceChildren(badge);
      if (job.forced) cells.state.append(el("span", { class: "forced", title: "pinned by a control call" }, "forced"));
    }
    row.dataset.state = String(job.state);
    row.dataset.final = String(job.final);
    cells.progress.value = job.progress;
    cells.progress.title = Math.round(job.progress * 100) + " %";
    setText(cells.ends, fmtTime(job.finishes_at).slice(5));  // MM-DD HH:MM:SS
    cells.ends.title = job.finishes_at;
  }

  $("jobs-prev").addEventListener("click", () => {
    ui.jobsOffset = Math.max(0, ui.jobsOffset - JOBS_PER_PAGE);
    refresh();
  });
  $("jobs-next").addEventListener("click", () => {
    ui.jobsOffset += JOBS_PER_PAGE;
    refresh();
  });

  // -- accounts ----------------------------------------------------------------------------------------
  const accountRows = new Map();

  async function loadAccounts() {
    const page = await api("GET", "accounts");
    const more = page.total > page.accounts.length ? ` (first ${page.accounts.length})` : "";
    setText($("accounts-count"), fmtInt(page.total) + more);
    const items = page.accounts.map((account, index) => ({ key: index + ":" + account.token, ...account }));
    syncRows($("accounts").tBodies[0], accountRows, items, (a) => a.key, accountRow, updateAccountRow);
  }

  function accountRow(account) {
    const row = document.createElement("tr");
    row.cells_ = {
      chips: el("div", { class: "chips" }),
      details: el("details", {}, el("summary"), el("dl", { class: "fields" })),
    };
    row.append(el("td", { class: "mono" }, account.token),
      el("td", { class: "wrap" }, row.cells_.chips, row.cells_.details));
    return row;
  }

  function updateAccountRow(row, account) {
    const signature = JSON.stringify(account.fields);
    if (row.dataset.signature === signature) return;
    row.dataset.signature = signature;
    const fields = Object.entries(account.fields);
    row.cells_.chips.replaceChildren(...fields
      .filter(([name, value]) => BALANCE_FIELD.test(name) && (value === null || typeof value !== "object"))
      .map(([name, value]) => el("span", { class: "chip", "data-field": name },
        name + " ", el("b", {}, value === null ? "—" : String(value)))));
    const [summary, list] = row.cells_.details.children;
    summary.textContent = `all ${fields.length} fields`;
    list.replaceChildren(...fields.flatMap(([name, value]) =>
      [el("dt", {}, name), el("dd", {}, typeof value === "string" ? value : JSON.stringify(value))]));
  }

  // -- journal -----------------------------------------------------------------------------------------
  async function loadJournal() {
    const onlyViolations = $("journal-violations").checked;
    const page = await api("GET", `journal/recent?limit=${JOURNAL_ROWS}${onlyViolations ? "&violations=1" : ""}`);
    if (!changed("journal", [onlyViolations, page])) return;
    const shown = page.entries.length;
    const total = onlyViolations ? page.violations : page.total;
    $("journal-count").replaceChildren(
      (shown < total ? `latest ${shown} of ` : "") + fmtInt(total) + (onlyViolations ? " with violations" : " requests"),
      ...(page.violations && !onlyViolations
        ? [" · ", el("span", { class: "status-5" }, `${fmtInt(page.violations)} with violations`)] : []));
    $("journal-empty").hidden = shown > 0;
    $("journal").tBodies[0].replaceChildren(...page.entries.map(journalRow));
  }

  function journalRow(entry) {
    const violations = entry.violations || [];
    const row = el("tr", violations.length ? { class: "violation" } : {});
    const status = entry.status === 0 ? "dropped" : String(entry.status);
    row.dataset.status = String(entry.status);
    row.append(
      el("td", { class: "mono", title: entry.time }, fmtTime(entry.time, true)),
      el("td", { class: "mono" }, entry.method),
      el("td", { class: "mono wrap" }, entry.path + (entry.query ? "?" + entry.query : "")),
      el("td", { class: "mono status-" + String(entry.status).charAt(0) }, status),
      el("td", { class: "mono" }, entry.token || ""),
      el("td", { class: "wrap" }, violations.length
        ? el("ul", { class: "violations" }, ...violations.map((v) => el("li", {}, typeof v === "string" ? v : `${v.side} ${v.where}: ${v.message}`))) : ""),
    );
    return row;
  }

  $("journal-violations").addEventListener("change", () => refresh());
  $("journal-clear").addEventListener("click", () => act("DELETE", "journal"));

  // -- faults -------------------------------------------------------------------------------------------
  async function loadFaults() {
    const data = await api("GET", "faults");
    if (!changed("faults", data)) return;
    const rules = data.faults || [];
    setText($("faults-count"), rules.length ? String(rules.length) : "");
    const list = $("faults");
    if (!rules.length) {
      list.replaceChildren(el("li", { class: "none" }, "No fault rules: every request reaches the provider."));
      return;
    }
    list.replaceChildren(...rules.map((rule) => el("li", { "data-id": rule.id }, describeRule(rule))));
  }

  function describeRule(rule) {
    const parts = [rule.id + ":", rule.method || "any method", rule.path || "any path"];
    if (rule.token) parts.push("token " + redact(rule.token));
    if (rule.drop) parts.push("→ drop the connection");
    else if (rule.status !== null && rule.status !== undefined) parts.push("→ " + rule.status);
    if (rule.body !== null && rule.body !== undefined) parts.push("body " + JSON.stringify(rule.body));
    if (rule.headers && Object.keys(rule.headers).length) parts.push("headers " + JSON.stringify(rule.headers));
    if (rule.delay_ms) parts.push(`delay ${rule.delay_ms} ms`);
    parts.push(rule.times === null || rule.times === undefined ? "always" : `${rule.times} more time(s)`);
    return parts.join(" ");
  }

  $("fault-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const rule = {};
    for (const name of ["method", "path", "token"]) {
      const value = form.elements[name].value.trim();
      if (value) rule[name] = value;
    }
    for (const name of ["status", "times", "delay_ms"]) {
      const value = form.elements[name].value.trim();
      if (value) rule[name] = Number(value);
    }
    if (form.elements.drop.checked) rule.drop = true;
    const body = form.elements.body.value.trim();
    if (body) {
      try { rule.body = JSON.parse(body); } catch (_) {
        showMessage("The fault's body must be JSON.");
        return;
      }
    }
    if (!("status" in rule) && !("body" in rule) && !rule.drop && !("delay_ms" in rule)) {
      showMessage("A fault needs a status, a body, a delay or drop.");
      return;
    }
    if ((await act("POST", "faults", rule)) !== undefined) form.elements.token.value = "";
  });
  $("faults-clear").addEventListener("click", () => act("DELETE", "faults"));

  // -- settings ---------------------------------------------------------------------------------------
  async function loadSettings() {
    const settings = await api("GET", "settings");
    const typing = document.activeElement;
    if (typing && typing.type === "text" && $("settings-panel").contains(typing)) return;  // keep their edit
    if (!changed("settings", settings)) return;
    const names = Object.keys(settings);
    $("settings-empty").hidden = names.length > 0;
    $("settings").tBodies[0].replaceChildren(...names.map((name) => settingRow(name, settings[name])));
  }

  function settingRow(name, value) {
    const row = el("tr", { "data-name": name });
    if (typeof value === "boolean") {
      const box = el("input", { type: "checkbox", "aria-label": name });
      box.checked = value;
      box.addEventListener("change", () => act("PUT", "settings", { [name]: box.checked }));
      row.append(el("td", {}, name), el("td", {}, box), el("td"));
      return row;
    }
    const input = el("input", { type: "text", "aria-label": name, spellcheck: "false" });
    input.value = typeof value === "string" ? value : JSON.stringify(value);
    const set = el("button", { type: "button" }, "Set");
    const apply = () => {
      let parsed = input.value;
      if (typeof value !== "string") {
        try { parsed = JSON.parse(input.value); } catch (_) {
          showMessage(`${name}: a JSON value (number, list, null, ...)`);
          return;
        }
      }
      input.blur();
      act("PUT", "settings", { [name]: parsed });
    };
    set.addEventListener("click", apply);
    input.addEventListener("keydown", (event) => { if (event.key === "Enter") apply(); });
    row.append(el("td", {}, name), el("td", {}, input), el("td", { class: "set" }, set));
    return row;
  }

  // -- header actions ----------------------------------------------------------------------------------
  $("reset-button").addEventListener("click", () => {
    if (confirm("Reset this emulator to its seeded fixtures (jobs, journal, faults and clock too)?")) {
      ui.jobsOffset = 0;
      act("POST", "reset");
    }
  });
  $("live").addEventListener("change", () => { if ($("live").checked) refresh(); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });

  // -- helpers -------------------------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    node.append(...children);  // strings become text nodes, never HTML
    return node;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  // Keeps one <tr> per key, so controls inside a row survive the polls; reorders on change.
  function syncRows(tbody, rows, items, keyOf, create, update) {
    const keys = items.map(keyOf);
    for (const item of items) {
      const key = keyOf(item);
      let row = rows.get(key);
      if (!row) {
        row = create(item);
        row.dataset.key = key;
        rows.set(key, row);
      }
      update(row, item);
    }
    const current = Array.from(tbody.rows, (row) => row.dataset.key);
    if (current.join("\n") !== keys.join("\n")) tbody.replaceChildren(...keys.map((key) => rows.get(key)));
    const wanted = new Set(keys);
    for (const key of rows.keys()) if (!wanted.has(key)) rows.delete(key);
  }

  function fmtTime(iso, withMillis = false) {
    if (!iso) return "";
    const text = iso.replace("T", " ").replace("Z", "");
    return withMillis ? text.slice(11, 23) : text.slice(0, 19);
  }

  function fmtDuration(seconds) {
    if (!seconds) return "0 s (real time)";
    let rest = Math.round(seconds);
    const parts = [];
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
      if (rest >= size) {
        parts.push(Math.floor(rest / size) + " " + unit);
        rest %= size;
      }
    }
    if (rest || !parts.length) parts.push(rest + " s");
    return "+" + parts.join(" ");
  }

  function fmtInt(n) {
    return Number(n).toLocaleString("en-US");
  }

  // Fault rules come back with their whole token: show at most a quarter of it.
  function redact(token) {
    const keep = Math.floor(token.length / 4);
    const head = Math.ceil(keep / 2);
    return token.slice(0, head) + "***" + (keep - head ? token.slice(token.length - (keep - head)) : "");
  }

  function setStatus(text, isError) {
    const status = $("status");
    setText(status, text);
    status.classList.toggle("error", isError);
  }

  let messageTimer = null;
  function showMessage(text) {
    const box = $("message");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(messageTimer);
    messageTimer = setTimeout(hideMessage, 10000);
  }

  function hideMessage() {
    $("message").hidden = true;
  }

  // -- start -------------------------------------------------------------------------------------------
  async function start() {
    takeTokenFromFragment();
    try {
      const health = await api("GET", "health");
      setText($("provider"), health.provider);
      document.title = health.provider + " emulator dashboard";
    } catch (_) { /* the polls report it */ }
    poll();
  }

  start();
})();
