// The dashboard's shell: the API client (cookie session, CSRF header on state changes), the
// hash router over the pages of pages.js, and the live event stream that feeds the event list
// and tells the open page when its data changed. Nothing polls.
"use strict";

const Dash = (() => {
  // h("td", {class: "up"}, "text", child) -> an element; text is never parsed as HTML
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  class ApiError extends Error {}

  // GET (or POST with a JSON body) under /api/v1; a 401 sends the browser to the login page
  async function api(path, body) {
    const init = { credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = cookie("qt_csrf"); // api/auth.py: double submit
      init.body = JSON.stringify(body);
    }
    const response = await fetch(`/api/v1${path}`, init);
    if (response.status === 401) {
      window.location.assign("/dashboard/login");
      throw new ApiError("not logged in");
    }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = JSON.stringify((await response.json()).detail); } catch (_) { /* keep */ }
      throw new ApiError(`${path}: HTTP ${response.status} ${detail}`);
    }
    return response.json();
  }

  const fmt = {
    num: (v, digits = 2) => (v === null || v === undefined ? "—"
      : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits })),
    pct: (v) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(2)} %`),
    time: (ms) => (ms === null || ms === undefined ? "—"
      : new Date(ms).toISOString().replace("T", " ").slice(0, 16)),
    signed: (v) => h("span", { class: v >= 0 ? "up" : "down" }, fmt.num(v)),
  };

  function table(columns, rows, rowAttrs) {
    return h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c[0])))),
      h("tbody", {}, rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {},
        columns.map((c) => h("td", {}, c[1](row)))))));
  }

  function failure(root, error) {
    root.append(h("p", { class: "error" }, String(error.message || error)));
  }

  // --- routing ---------------------------------------------------------------------------
  let onEvent = null; // the open page's event handler

  async function route() {
    const name = (window.location.hash.replace(/^#\//, "") || "overview").split("/")[0];
    const page = Pages[name] ? name : "overview";
    for (const a of document.querySelectorAll("#nav a")) {
      a.classList.toggle("active", a.dataset.page === page);
    }
    const root = document.getElementById("page");
    root.replaceChildren();
    root.dataset.page = page;
    onEvent = null;
    try {
      onEvent = await Pages[page](root) || null;
    } catch (error) {
      if (!(error instanceof ApiError && error.message === "not logged in")) failure(root, error);
    }
  }

  // --- the live event stream ---------------------------------------------------------------
  //: the outbox's topics (adapters/sql/event_outbox.py): an EventSource hears a named event
  //: only through a listener for that name
  const TOPICS = [
    "execution.order.submitted", "execution.order.updated", "execution.order.filled",
    "execution.trade.closed", "risk.decision", "risk.state.changed", "policy.updated",
    "model.stage_changed", "model.drift.detected", "model.covariate_shift", "regime.changed",
    "health.alert",
  ];
  const KEEP = 50;

  function summary(event) {
    const p = event.payload || {};
    const parts = [p.symbol, p.outcome, p.side, p.state, p.status, p.reason, p.regime]
      .filter((x) => typeof x === "string" && x);
    return parts.length ? parts.join(" · ") : JSON.stringify(p).slice(0, 100);
  }

  function received(message) {
    let event;
    try { event = JSON.parse(message.data); } catch (_) { return; }
    const list = document.getElementById("events");
    list.prepend(h("li", { dataset: { eventId: String(event.id), type: event.type } },
      h("span", { class: "type" }, event.type), " ",
      h("span", { class: "muted" }, `#${event.id} · ${fmt.time(event.time)}`),
      h("div", {}, summary(event))));
    while (list.children.length > KEEP) list.lastChild.remove();
    if (onEvent) onEvent(event);
  }

  function listen() {
    const live = document.getElementById("live");
    const source = new EventSource("/api/v1/events"); // resumes by Last-Event-ID by itself
    source.onopen = () => { live.textContent = "live"; live.className = "badge on"; };
    source.onerror = () => { live.textContent = "reconnecting…"; live.className = "badge off"; };
    source.onmessage = received;
    for (const topic of TOPICS) source.addEventListener(topic, received);
  }

  function start() {
    window.addEventListener("hashchange", route);
    listen();
    route();
  }

  return { h, api, fmt, table, failure, start };
})();

Dash.start();
