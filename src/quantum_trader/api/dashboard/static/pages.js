// The dashboard's pages. Each renders into its root from the /api/v1 routes and returns the
// handler of live events that concern it (it re-reads its data then), or nothing.
"use strict";

const Pages = (() => {
  const { h, api, fmt, table } = {
    h: (...a) => Dash.h(...a), api: (...a) => Dash.api(...a),
    fmt: new Proxy({}, { get: (_, k) => Dash.fmt[k] }), table: (...a) => Dash.table(...a),
  };

  // fn, at most once per `ms` however many events arrive (a replay publishes in bursts)
  function debounced(fn, ms = 500) {
    let timer = null;
    return () => {
      if (timer !== null) return;
      timer = setTimeout(() => { timer = null; fn().catch(() => {}); }, ms);
    };
  }

  function card(title, ...children) { return h("section", { class: "card" }, h("h2", {}, title), ...children); }

  // --- overview ----------------------------------------------------------------------------
  // buy-and-hold from /benchmark, or why there is none (no candle store, no candles)
  async function benchmarkOf() {
    try {
      const b = await api("/benchmark?limit=2000");
      if (b.points.length === 0) {
        return { points: [], note: `Buy-and-hold is not drawn: no stored candles of the run's symbols at its start${b.missing.length ? ` (${b.missing.join(", ")})` : ""}.` };
      }
      return { points: b.points.map((p) => [p.time, p.value]),
        note: `Buy-and-hold (dashed): ${fmt.num(b.initial_equity)} split equally over ${b.symbols.join(", ")} at the run's start, `
          + `held to its end (${fmt.pct(b.total_return)}; no fees or funding)`
          + (b.missing.length ? `; left out for want of candles: ${b.missing.join(", ")}.` : ".") };
    } catch (e) {
      return { points: [], note: `Buy-and-hold is not drawn: ${e.message}.` };
    }
  }

  async function drawEquity(equityBox, drawdownBox, note) {
    const [eq, bench] = await Promise.all([api("/equity?limit=2000"), benchmarkOf()]);
    const points = eq.points.map((p) => [p.time, p.equity]);
    Charts.plot(equityBox, { name: "equity-chart",
      lines: [{ points, cls: "equity" }, { points: bench.points, cls: "benchmark" }] });
    Charts.plot(drawdownBox, {
      name: "drawdown-chart", height: 140, format: (v) => `${v.toFixed(1)} %`,
      lines: [{ points: eq.points.map((p) => [p.time, -100 * p.drawdown]), cls: "drawdown", area: true }],
    });
    note.replaceChildren(
      eq.run_id === null ? "No run recorded yet. " : `Run ${eq.run_id}: ${eq.total_points} points`
        + (eq.step > 1 ? ` (every ${eq.step}th drawn)` : "") + `, max drawdown ${fmt.pct(eq.max_drawdown)}, `
        + `balance ${fmt.num(eq.balance)}. `,
      h("span", { id: "benchmark-note" }, bench.note));
  }

  function killSwitchForm(risk, redraw) {
    const engaged = risk.kill_switch.engaged;
    const reason = h("input", { id: "kill-reason", placeholder: "reason (audited)", size: 32 });
    const error = h("span", { class: "error", id: "kill-error" });
    const button = h("button", { id: "kill-toggle", type: "submit", class: engaged ? "" : "danger" },
      engaged ? "Release kill switch" : "Engage kill switch");
    return h("form", { class: "kill", onsubmit: async (event) => {
      event.preventDefault();
      if (!reason.value.trim()) { error.textContent = "a reason is required"; return; }
      button.disabled = true;
      try {
        await api("/risk/kill-switch", { on: !engaged, reason: reason.value.trim() });
        await redraw();
      } catch (e) { error.textContent = e.message; button.disabled = false; }
    } }, reason, button, error);
  }

  async function drawRisk(box) {
    const risk = await api("/risk");
    const ks = risk.kill_switch, st = risk.trading_state, mode = risk.risk_mode;
    box.replaceChildren(
      h("p", {}, "Kill switch: ", h("strong", { id: "kill-state", class: ks.engaged ? "down" : "up" },
        ks.engaged ? "ENGAGED" : "off"),
        ks.changed_by ? h("span", { class: "muted" }, ` — ${ks.reason} (${ks.changed_by}, ${fmt.time(ks.changed_at)})`) : ""),
      h("p", {}, "Trading state: ", h("strong", { id: "trading-state" }, st ? st.state : "ACTIVE"),
        st ? h("span", { class: "muted" }, ` — ${st.reason} (${st.by}, ${fmt.time(st.at)})`) : ""),
      h("p", {}, "Risk mode: ", h("strong", {}, mode ? mode.mode : "—"),
        mode ? h("span", { class: "muted" }, ` — ${mode.reasons.join("; ")}`) : ""),
      killSwitchForm(risk, () => drawRisk(box)));
  }

  async function drawModules(box) {
    const status = await api("/status");
    box.replaceChildren(
      h("p", { class: "muted" }, `Engine: ${status.engine.line}`),
      h("div", { class: "modules", id: "modules" }, status.modules.map((m) =>
        h("div", { class: `module ${m.state}`, dataset: { module: m.name } },
          h("div", { class: "name" }, m.name), h("div", {}, m.state),
          h("div", { class: "muted" }, m.reason),
          Object.entries(m.counters).map(([k, v]) => h("div", { class: "counter" }, `${k}: ${fmt.num(v, 0)}`))))));
  }

  async function overview(root) {
    const equityBox = h("div", { id: "equity" }), drawdownBox = h("div", { id: "drawdown" });
    const note = h("p", { class: "muted small" }), riskBox = h("div", { id: "risk" });
    const modulesBox = h("div");
    root.append(
      card("Equity", equityBox, note), card("Underwater (drawdown from the running peak)", drawdownBox),
      card("Risk", riskBox), card("Modules", modulesBox));
    await Promise.all([drawEquity(equityBox, drawdownBox, note), drawRisk(riskBox), drawModules(modulesBox)]);
    const equity = debounced(() => drawEquity(equityBox, drawdownBox, note), 1000);
    const risk = debounced(() => drawRisk(riskBox));
    const modules = debounced(() => drawModules(modulesBox), 2000);
    return (event) => {
      if (event.type.startsWith("risk.state") || event.type === "policy.updated") risk();
      if (event.type.startsWith("execution.")) equity();
      modules();
    };
  }

  // --- candles with trade markers ------------------------------------------------------------
  const CANDLES = 2000; // the newest of the run's span; /candles answers at most 5,000
  const FILLS_NOTE = "No stored candles for this symbol: the line is the price of the run's "
    + "newest 1,000 fills";

  // the symbol's candles up to the run's last fill or trade, or null (then the fills' line)
  async function candlesOf(symbol, end, note) {
    try {
      const body = await api(`/candles?symbol=${encodeURIComponent(symbol)}&limit=${CANDLES}&end=${end + 1}`);
      if (body.candles.length === 0) throw new Error("none stored before the run's end");
      note.textContent = `${body.candles.length} of ${body.total} stored ${body.timeframe} candles up to the run's last trade, `
        + "with each trade's entry (▲ buy, ▼ sell) and exit (○).";
      return body.candles.map((c) => ({ t: c.open_time, o: c.open, h: c.high, l: c.low, c: c.close }));
    } catch (e) {
      note.textContent = `${FILLS_NOTE} (${e.message}), with each trade's entry (▲ buy, ▼ sell) and exit (○).`;
      return null;
    }
  }

  async function candles(root) {
    const box = h("div", { id: "price" }), select = h("select", { id: "symbol" });
    const note = h("p", { class: "muted small", id: "candles-note" });
    root.append(card("Candles and trades per symbol", h("p", {}, "Symbol: ", select), box, note));
    let fills = [], trades = [];
    const draw = async () => {
      const symbol = select.value;
      const mine = trades.filter((t) => t.symbol === symbol);
      const line = fills.filter((f) => f.symbol === symbol).map((f) => [f.time, f.price]).sort((a, b) => a[0] - b[0]);
      const end = Math.max(0, ...line.map((p) => p[0]), ...mine.map((t) => t.exit_time));
      const bars = symbol ? await candlesOf(symbol, end, note) : null;
      const from = bars && bars.length ? bars[0].t : line.length ? line[0][0] : -Infinity;
      const markers = mine.filter((t) => t.entry_time >= from).flatMap((t) => [
        { t: t.entry_time, y: t.entry_price, up: t.side === "BUY", cls: `entry-${t.side}`,
          title: `${t.trade_id} ${t.side} ${t.quantity} @ ${t.entry_price}` },
        { t: t.exit_time, y: t.exit_price, shape: "ring", cls: "exit",
          title: `${t.trade_id} exit @ ${t.exit_price} (${t.exit_reason}), pnl ${fmt.num(t.pnl)}` },
      ]);
      Charts.plot(box, { name: "price-chart", height: 360, markers,
        lines: bars ? [] : [{ points: line, cls: "price" }], candles: bars || [] });
    };
    const load = async () => {
      const [f, t] = await Promise.all([api("/fills?limit=1000"), api("/trades?limit=1000")]);
      fills = f.fills; trades = t.trades;
      const symbols = [...new Set(fills.map((x) => x.symbol).concat(trades.map((x) => x.symbol)))].sort();
      const keep = select.value;
      select.replaceChildren(...symbols.map((s) => h("option", { value: s }, s)));
      if (symbols.includes(keep)) select.value = keep;
      await draw();
    };
    select.addEventListener("change", () => draw().catch((e) => Dash.failure(box, e)));
    await load();
    const reload = debounced(load, 1000);
    return (event) => { if (event.type.startsWith("execution.")) reload(); };
  }

  // --- open positions --------------------------------------------------------------------------
  async function positions(root) {
    const box = h("div", { id: "positions" });
    root.append(card("Open positions", box));
    const load = async () => {
      const book = await api("/positions");
      box.replaceChildren(
        h("p", { class: "muted" }, book.run_id ? `Run ${book.run_id}, as of ${fmt.time(book.as_of)}` : "No run recorded."),
        table([
          ["symbol", (p) => p.symbol], ["side", (p) => p.side], ["size", (p) => fmt.num(p.quantity, 6)],
          ["entry", (p) => fmt.num(p.entry_price)], ["mark", (p) => fmt.num(p.mark_price)],
          ["unrealised PnL", (p) => fmt.signed(p.unrealized_pnl)], ["notional", (p) => fmt.num(p.notional)],
          ["leverage", (p) => `${fmt.num(p.leverage)}×`], ["margin", (p) => fmt.num(p.margin)],
          ["liquidation", (p) => fmt.num(p.liquidation_price)],
          ["to liquidation", (p) => fmt.pct(Math.abs(p.mark_price - p.liquidation_price) / p.mark_price)],
          ["opened", (p) => fmt.time(p.opened_at)],
        ], book.positions));
    };
    await load();
    const reload = debounced(load, 1000);
    return (event) => { if (event.type.startsWith("execution.")) reload(); };
  }

  // --- trades and their decision traces ---------------------------------------------------------
  function traceView(tr) {
    const d = tr.decision, t = tr.trade;
    return h("div", { id: "trace", dataset: { tradeId: t.trade_id } },
      h("dl", { class: "trace" },
        h("dt", {}, "trade"), h("dd", {}, `${t.trade_id}: ${t.side} ${t.quantity} ${t.symbol}, ${fmt.num(t.entry_price)} → ${fmt.num(t.exit_price)}, PnL `, fmt.signed(t.pnl), ` (exit: ${t.exit_reason})`),
        h("dt", {}, "decision"), h("dd", {}, d ? d.decision_id : "not opened by the decision path"),
        h("dt", {}, "regime"), h("dd", { id: "trace-regime" }, d ? d.regime || "unknown yet" : "—"),
        h("dt", {}, "strategy"), h("dd", { id: "trace-strategy" }, d ? `${d.strategy} (selector ${d.selector})` : t.strategy),
        h("dt", {}, "size"), h("dd", {}, d ? `${fmt.num(t.quantity, 6)} by sizer ${d.sizer}` : fmt.num(t.quantity, 6)),
        h("dt", {}, "voters"), h("dd", { id: "trace-members" }, d && d.members.length ? d.members.join(", ") : "—",
          tr.note ? h("div", { class: "muted small" }, tr.note) : ""),
        h("dt", {}, "ensemble"), h("dd", { id: "trace-signal" }, d && d.signal
          ? `${d.signal.direction} p ${fmt.num(d.signal.probability, 3)}, confidence ${fmt.num(d.signal.confidence, 3)}, ${d.signal.agreeing} agreeing` : "—")),
      d && d.votes.length ? h("div", { id: "trace-votes" }, table([
        ["member", (v) => v.member], ["p down", (v) => fmt.num(v.p_down, 3)], ["p flat", (v) => fmt.num(v.p_flat, 3)],
        ["p up", (v) => fmt.num(v.p_up, 3)], ["weight", (v) => fmt.num(v.weight, 3)],
      ], d.votes)) : "",
      h("h2", {}, "Risk verdicts"),
      tr.risk.length === 0 ? h("p", { class: "muted" }, "No risk decision stored for this decision id.")
        : table([
          ["time", (r) => fmt.time(r.time)], ["verdict", (r) => h("strong", { class: r.outcome === "REJECTED" ? "down" : "up" }, r.outcome)],
          ["size", (r) => `${fmt.num(r.requested_quantity, 6)} → ${fmt.num(r.final_quantity, 6)}`],
          ["state", (r) => r.trading_state], ["mode", (r) => r.risk_mode],
          ["leverage", (r) => fmt.num(r.intent.leverage)], ["reasons", (r) => r.reasons.join("; ") || "—"],
          ["intent", (r) => String(r.intent.reason || "")],
        ], tr.risk),
      h("h2", {}, "Orders"),
      table([
        ["order", (o) => o.client_order_id], ["side", (o) => o.side], ["qty", (o) => fmt.num(o.quantity, 6)],
        ["avg price", (o) => fmt.num(o.average_price)], ["status", (o) => o.status],
        ["reduce only", (o) => (o.reduce_only ? "yes" : "no")], ["created", (o) => fmt.time(o.created_at)],
        ["decision", (o) => (o.decision ? `${o.decision.decision_id} ${o.decision.strategy}` : "—")],
      ], tr.orders));
  }

  async function trades(root) {
    const list = h("div", { id: "trades" }), traceBox = h("div", {}, h("p", { class: "muted" }, "Click a trade for its decision trace."));
    root.append(h("div", { class: "grid2" }, card("Closed trades (newest first)", list), card("Decision trace", traceBox)));
    let selected = null;
    const open = async (id) => {
      selected = id;
      for (const tr of list.querySelectorAll("tr.selected")) tr.classList.remove("selected");
      const row = list.querySelector(`tr[data-trade-id="${CSS.escape(id)}"]`);
      if (row) row.classList.add("selected");
      traceBox.replaceChildren(traceView(await api(`/trades/${encodeURIComponent(id)}/trace`)));
    };
    const load = async () => {
      const body = await api("/trades?limit=200");
      list.replaceChildren(body.trades.length === 0 ? h("p", { class: "muted" }, "No trades yet.") : table([
        ["trade", (t) => t.trade_id], ["symbol", (t) => t.symbol], ["side", (t) => t.side],
        ["PnL", (t) => fmt.signed(t.pnl)], ["strategy", (t) => t.strategy], ["exit", (t) => fmt.time(t.exit_time)],
      ], body.trades, (t) => ({ class: `clickable trade-row${t.trade_id === selected ? " selected" : ""}`,
        dataset: { tradeId: t.trade_id }, onclick: () => open(t.trade_id).catch((e) => Dash.failure(traceBox, e)) })));
    };
    await load();
    const reload = debounced(load, 1000);
    return (event) => { if (event.type === "execution.trade.closed") reload(); };
  }

  // --- models and learning ----------------------------------------------------------------------
  async function models(root) {
    const versions = h("div", { id: "models" }), history = h("div", { id: "history" }), policies = h("div");
    const judged = h("div", { id: "challengers" }), lines = h("div", { id: "lines" }), verdicts = h("div");
    root.append(card("Shadows and canaries (judged against production now)", judged),
      card("Learning: each line's training and triggers (last run)", lines), card("The rules' latest verdicts", verdicts),
      card("Registry", versions), card("Line history (registry timeline)", history), card("Agents' policy versions", policies));
    const trigger = (t) => `${t.kind} at ${fmt.time(t.at)} (${t.detail})`;
    const openLine = async (key) => {
      const cut = key.lastIndexOf("/"), head = key.slice(0, cut), horizon = key.slice(cut + 2);
      const scopeCut = head.lastIndexOf("/"), name = head.slice(0, scopeCut), scope = head.slice(scopeCut + 1);
      const line = await api(`/models/${encodeURIComponent(name)}/history?scope=${encodeURIComponent(scope)}&horizon=${horizon}`);
      history.replaceChildren(h("p", {}, `${line.key}: production version ${line.production ?? "none"}`),
        h("ol", { class: "timeline" }, line.changes.map((c) => h("li", {},
          h("strong", {}, fmt.time(c.at)), ` v${c.version} ${c.from_stage ?? "new"} → ${c.to_stage} `,
          h("span", { class: "muted" }, `(${c.action} by ${c.actor}: ${c.reason})`)))));
    };
    const load = async () => {
      const [all, pols, learning] = await Promise.all([api("/models"), api("/policies?limit=50"), api("/learning?limit=20")]);
      judged.replaceChildren(learning.challengers.length === 0 ? h("p", { class: "muted" }, "No version is in the shadow or a canary now.") : table([
        ["line", (c) => c.key], ["version", (c) => c.version], ["stage", (c) => c.stage], ["since", (c) => fmt.time(c.since)],
        ["trained because", (c) => c.registered_reason], ["moved by", (c) => `${c.actor}: ${c.reason}`],
      ], learning.challengers));
      lines.replaceChildren(learning.lines.length === 0 ? h("p", { class: "muted" }, "No learning daemon saved by the last run.") : table([
        ["line", (l) => l.line], ["last trained", (l) => (l.last_trained === null ? "never" : fmt.time(l.last_trained))],
        ["training now", (l) => (l.in_flight ? trigger(l.in_flight) : "")], ["waiting", (l) => l.waiting.map(trigger).join("; ")],
      ], learning.lines));
      verdicts.replaceChildren(learning.verdicts.length === 0 ? h("p", { class: "muted" }, "No rule has moved a version yet.") : table([
        ["at", (v) => fmt.time(v.at)], ["line", (v) => `${v.key} v${v.version}`], ["move", (v) => `${v.from_stage ?? "new"} → ${v.to_stage}`],
        ["rule", (v) => v.actor], ["evidence", (v) => v.reason],
      ], learning.verdicts));
      versions.replaceChildren(all.length === 0 ? h("p", { class: "muted" }, "No model registered yet.") : table([
        ["line", (m) => m.key], ["version", (m) => m.version], ["stage", (m) => m.stage],
        ["artifact", (m) => m.artifact_hash.slice(0, 12)], ["registered", (m) => fmt.time(m.created_at)],
      ], all, (m) => ({ class: "clickable", onclick: () => openLine(m.key).catch((e) => Dash.failure(history, e)) })));
      policies.replaceChildren(pols.length === 0 ? h("p", { class: "muted" }, "No policy version yet.") : table([
        ["line", (p) => p.key], ["version", (p) => p.version], ["stage", (p) => p.stage],
        ["production", (p) => (p.production ? "yes" : "")], ["algorithm", (p) => p.algorithm ?? "—"],
        ["metrics", (p) => Object.entries(p.metrics).map(([k, v]) => `${k} ${fmt.num(v, 3)}`).join(", ")],
      ], pols));
      if (all.length && !history.childElementCount) await openLine(all[0].key);
    };
    await load();
    const reload = debounced(load, 1000);
    return (event) => { if (event.type.startsWith("model.") || event.type === "policy.updated") reload(); };
  }

  // --- experiments ------------------------------------------------------------------------------
  async function experiments(root) {
    const list = h("div", { id: "experiments" }), detail = h("div");
    root.append(card("A/B experiments", list, h("p", { class: "muted small" },
      "Experiments publish no live events: this page reads them when opened.")), card("Detail", detail));
    const open = async (name) => {
      const e = await api(`/experiments/${encodeURIComponent(name)}`);
      detail.replaceChildren(h("p", {}, `${e.name}: ${e.summary}`), h("p", {}, `SRM: ${e.srm}`),
        table([["arm", (r) => r[0]], ["comparison with control", (r) => r[1]]], Object.entries(e.comparisons)),
        h("ol", {}, e.audit.map((a) => h("li", {}, `${fmt.time(a.at)} ${a.event}: ${a.detail}`))));
    };
    const all = await api("/experiments");
    list.replaceChildren(all.length === 0 ? h("p", { class: "muted" }, "No experiment yet.") : table([
      ["name", (e) => e.name], ["status", (e) => e.status], ["arms", (e) => e.arms.join(" vs ")],
      ["samples", (e) => e.samples],
      ["P(best)", (e) => Object.entries(e.probabilities).map(([k, v]) => `${k} ${fmt.pct(v)}`).join(", ")],
      ["verdict", (e) => e.verdict], ["arm", (e) => e.arm ?? "—"],
    ], all, (e) => ({ class: "clickable", onclick: () => open(e.name).catch((x) => Dash.failure(detail, x)) })));
    return null;
  }

  return { overview, candles, positions, trades, models, experiments, card };
})();
