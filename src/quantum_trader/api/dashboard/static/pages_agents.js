// The Agents page (GET /agents): each learning agent's modules with their state and evidence,
// its policy lines' versions as a timeline of stages (which version serves in production and
// which in the shadow now), the Q-learner's stored tables with their most visited states (each
// action's value and visits), and the figures of the newest run that reported the agent.
// What the database does not hold is shown as "not recorded". The page reads when opened and again when the event stream says its data changed: at once-ish
// on a registry or policy event, more lazily on any other (the modules' counters move then).
"use strict";

(() => {
  // Dash (app.js) is loaded after the pages: read it when a page is drawn, not at load
  const h = (...a) => Dash.h(...a), api = (...a) => Dash.api(...a), table = (...a) => Dash.table(...a);
  const fmt = new Proxy({}, { get: (_, k) => Dash.fmt[k] });
  const NOT_RECORDED = "not recorded";

  function debounced(fn, ms) {
    let timer = null;
    return () => {
      if (timer !== null) return;
      timer = setTimeout(() => { timer = null; fn().catch(() => {}); }, ms);
    };
  }

  const stage = (name) => h("span", { class: `stage ${name}` }, name);

  function moduleView(m) {
    const head = h("div", { class: "name" }, `${m.number} · ${m.name}`);
    if (!m.recorded) {
      return h("div", { class: "module", dataset: { module: m.name, recorded: "false" } }, head,
        h("div", {}, NOT_RECORDED), h("div", { class: "muted" }, "no status row: no run registered this module"));
    }
    return h("div", { class: `module ${m.state}`, dataset: { module: m.name, recorded: "true" } }, head,
      h("div", {}, `${m.state}${m.enabled ? "" : " (switched off)"}`), h("div", { class: "muted" }, m.reason),
      h("div", { class: "muted small" }, `run ${m.run_id ?? "—"}, last activity ${fmt.time(m.last_activity)}`),
      Object.keys(m.counters).length === 0 ? h("div", { class: "counter muted" }, "no evidence counted")
        : Object.entries(m.counters).map(([k, v]) => h("div", { class: "counter" }, `${k}: ${fmt.num(v, 0)}`)));
  }

  // one version's stages, oldest first, a line each ("→ PRODUCTION 2026-…"); who moved it
  // and why in the line's tooltip
  function timeline(v) {
    return h("div", { class: "stages" }, v.changes.map((c, i) => h("div", {
      title: `${c.action} by ${c.actor}: ${c.reason}` }, i ? "→ " : "", stage(c.to_stage), ` ${fmt.time(c.at)}`)));
  }

  function lineView(line) {
    const serves = (v) => (v.version === line.production ? "production" : v.version === line.shadow ? "shadow" : "");
    const shown = line.versions.length < line.versions_total
      ? ` (the newest ${line.versions.length} of ${line.versions_total} versions)` : "";
    return h("div", { class: "policy-line", dataset: { line: line.key } },
      h("p", {}, h("strong", {}, line.key), ": production ",
        h("strong", { class: "serves-production" }, line.production === null ? "none" : `v${line.production}`),
        ", shadow ", h("strong", { class: "serves-shadow" }, line.shadow === null ? "none" : `v${line.shadow}`), shown),
      table([
        ["version", (v) => `v${v.version}`], ["stage now", (v) => stage(v.stage)], ["serves", serves],
        ["registered", (v) => fmt.time(v.created_at)], ["why", (v) => v.why || NOT_RECORDED],
        ["held-out metrics", (v) => Object.entries(v.metrics).map(([k, x]) => `${k} ${fmt.num(x, 3)}`).join(", ") || "—"],
        ["timeline (stage changes)", timeline],
      ], line.versions.slice().reverse(), (v) => ({
        class: "agent-version", dataset: { version: String(v.version), stage: v.stage, serves: serves(v) } })));
  }

  // one state's readable fields: the stored key decoded by the route (agents/qstate.py), or
  // the key alone where the route could not decode it
  const PNL = { "-1": "−", 0: "0", 1: "+" };
  const bucket = (v) => (v === null ? "—" : String(v));

  // one stored table's most visited states, an action per column: its value (visits), the
  // best stored value in bold (what a greedy choice takes, unvisited actions being worth 0)
  function cellsView(t) {
    if (t.states_total === 0) return h("p", { class: "muted" }, "No cell stored in this table.");
    const shown = t.states.length < t.states_total
      ? `the ${t.states.length} most visited of ${t.states_total} states` : `all ${t.states_total} states`;
    const best = (s) => Math.max(...Object.values(s.actions).map((a) => a.q));
    const actionColumn = (name) => [name, (s) => {
      const a = s.actions[name];
      if (a === undefined) return h("span", { class: "muted" }, "—");
      const text = `${fmt.num(a.q, 4)} (${fmt.num(a.visits, 0)})`;
      return a.q === best(s) ? h("strong", {}, text) : text;
    }];
    return h("div", { class: "qcells", dataset: { scope: t.scope } },
      h("p", { class: "muted small" }, `Q-table ${t.scope}: ${shown}; each action's value (visits)`),
      table([
        ["state", (s) => h("code", {}, s.state)], ["regime", (s) => s.regime ?? "—"],
        ["vol bucket", (s) => bucket(s.vol)], ["confidence bucket", (s) => bucket(s.confidence)],
        ["PnL sign", (s) => (s.pnl === null ? "—" : PNL[s.pnl])], ["visits", (s) => fmt.num(s.visits, 0)],
        ...t.actions.map(actionColumn),
      ], t.states, (s) => ({ class: "qstate", dataset: { state: s.state, visits: String(s.visits) } })));
  }

  // the tables' headers, then each table's cells (a list of nodes: h() flattens one level)
  function qtablesView(tables) {
    if (tables.length === 0) return [h("p", { class: "muted" }, `Q-table: ${NOT_RECORDED} (none saved yet).`)];
    return [table([
      ["Q-table scope", (t) => t.scope], ["state space", (t) => t.state_space], ["cells", (t) => fmt.num(t.cells, 0)],
      ["updates", (t) => fmt.num(t.updates, 0)], ["trades learnt", (t) => fmt.num(t.trades, 0)],
      ["decisions", (t) => fmt.num(t.decisions, 0)], ["saved", (t) => fmt.time(t.saved_at)],
    ], tables, () => ({ class: "qtable" })), ...tables.map(cellsView)];
  }

  function runView(run) {
    if (run === null) return h("p", { class: "muted last-run" }, `Last run figures: ${NOT_RECORDED} (no stored run summary reports this agent).`);
    const value = (v) => (v === null ? "—" : typeof v === "number" ? fmt.num(v, 4) : String(v));
    return h("div", { class: "last-run", dataset: { run: run.run_id } },
      h("p", {}, `Run ${run.run_id} (${run.status}, ${fmt.time(run.started_at)} → ${fmt.time(run.finished_at)}), summary part `,
        h("code", {}, run.part)),
      table([["figure", (r) => r[0]], ["value", (r) => value(r[1])]], Object.entries(run.figures)));
  }

  function agentView(a) {
    return h("section", { class: "card agent", dataset: { agent: a.agent } },
      h("h2", {}, a.title), h("p", { class: "muted small" }, a.description),
      h("div", { class: "modules" }, a.modules.map(moduleView)),
      h("h3", {}, "Policy versions"),
      a.policy_name === null ? h("p", { class: "muted" }, "This agent keeps no registry line.")
        : a.lines.length === 0 ? h("p", { class: "muted" }, `No ${a.policy_name} version registered yet.`)
          : a.lines.map(lineView),
      a.qtables === null ? "" : [h("h3", {}, "Q-tables"), ...qtablesView(a.qtables)],
      h("h3", {}, "Last run"), runView(a.last_run));
  }

  async function agents(root) {
    const box = h("div", { id: "agents" });
    root.append(box);
    const load = async () => {
      const body = await api("/agents?versions=50&qstates=200");
      box.replaceChildren(...body.agents.map(agentView));
    };
    await load();
    const registry = debounced(load, 500), counters = debounced(load, 2000);
    return (event) => {
      if (event.type.startsWith("model.") || event.type === "policy.updated") registry();
      else counters();
    };
  }

  Pages.agents = agents;
})();
