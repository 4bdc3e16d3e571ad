// The Backtests page: start a backtest job (POST /backtests) with the SMA cross or the AI
// strategy (the full decision path: no SMA averages), follow the jobs' state and progress,
// open a finished job's report. Jobs publish no bus events, so while one is queued or
// running this page reads the list once a second, and stops when none is.
"use strict";

(() => {
  // Dash (app.js) is loaded after the pages: read it when a page is drawn, not at load
  const h = (...a) => Dash.h(...a), api = (...a) => Dash.api(...a), table = (...a) => Dash.table(...a);
  const fmt = new Proxy({}, { get: (_, k) => Dash.fmt[k] });
  const DAY = 86_400_000;
  const active = (jobs) => jobs.some((j) => j.state === "queued" || j.state === "running");

  function form(onStarted) {
    const today = new Date().toISOString().slice(0, 10);
    const input = (id, value, size) => h("input", { id, value, size });
    const symbols = input("bt-symbols", "BTCUSDT ETHUSDT", 24), timeframe = input("bt-timeframe", "1h", 4);
    const start = h("input", { id: "bt-start", type: "date", value: new Date(Date.parse(today) - 30 * DAY).toISOString().slice(0, 10) });
    const end = h("input", { id: "bt-end", type: "date", value: today });
    const fast = input("bt-fast", "10", 4), slow = input("bt-slow", "30", 4);
    const strategy = h("select", { id: "bt-strategy" },
      h("option", { value: "sma_cross" }, "SMA cross"), h("option", { value: "ai" }, "AI (full decision path)"));
    // the SMA averages apply to the SMA cross only: hidden (and not sent) for the AI strategy
    const sma = h("span", { id: "bt-sma" }, " SMA ", fast, " / ", slow);
    strategy.addEventListener("change", () => { sma.hidden = strategy.value !== "sma_cross"; });
    const error = h("span", { class: "error", id: "bt-error" });
    return h("form", { class: "kill", id: "bt-form", onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = "";
      const body = {
        strategy: strategy.value,
        symbols: symbols.value.trim().split(/[\s,]+/).filter(Boolean), timeframe: timeframe.value.trim(),
        start: Date.parse(`${start.value}T00:00:00Z`), end: Date.parse(`${end.value}T00:00:00Z`),
      };
      if (strategy.value === "sma_cross") Object.assign(body, { fast: Number(fast.value), slow: Number(slow.value) });
      try {
        await api("/backtests", body);
        await onStarted();
      } catch (e) { error.textContent = e.message; }
    } }, "strategy ", strategy, " symbols ", symbols, " timeframe ", timeframe, " from ", start, " to ", end,
    sma, h("button", { id: "bt-start-button", type: "submit" }, "Start backtest"), error);
  }

  const strategyText = (j) => (j.strategy === "ai" ? "AI" : `SMA ${j.fast}/${j.slow}`);

  const metric = (j, key, f) => (j.metrics && key in j.metrics ? f(j.metrics[key]) : "—");

  function jobsTable(jobs) {
    if (jobs.length === 0) return h("p", { class: "muted" }, "No backtest job yet.");
    return table([
      ["job", (j) => j.job_id], ["state", (j) => h("strong", { class: `job-state ${j.state}` }, j.state)],
      ["progress", (j) => fmt.pct(j.progress)], ["symbols", (j) => `${j.symbols.join(" ")} ${j.timeframe}`],
      ["span", (j) => `${fmt.time(j.start).slice(0, 10)} → ${fmt.time(j.end).slice(0, 10)}`],
      ["strategy", strategyText], ["return", (j) => metric(j, "total_return", fmt.pct)],
      ["max drawdown", (j) => metric(j, "max_drawdown", fmt.pct)],
      ["final equity", (j) => metric(j, "final_equity", (v) => fmt.num(v))],
      ["report", (j) => (j.report ? h("a", { href: j.report, target: "_blank", class: "report" }, "open") : j.reason || "—")],
    ], jobs, (j) => ({ class: "job-row", dataset: { jobId: String(j.job_id), state: j.state, strategy: j.strategy } }));
  }

  async function backtests(root) {
    const list = h("div", { id: "backtests" });
    let timer = null;
    const load = async () => {
      const jobs = await api("/backtests");
      list.replaceChildren(jobsTable(jobs));
      clearTimeout(timer);
      if (active(jobs) && document.body.contains(list)) timer = setTimeout(() => load().catch(() => {}), 1000);
    };
    root.append(
      Pages.card("Start a backtest (through the engine, one job at a time)", form(load),
        h("p", { class: "muted small" }, "The job runs `quantum-trader backtest --strategy …` in a child process. "
          + "The AI strategy first trains its models on the days before the start (minutes: progress stays at 0 % "
          + "meanwhile), then replays the window through the full decision path.")),
      Pages.card("Backtest jobs (newest first)", list));
    await load();
    return null;
  }

  Pages.backtests = backtests;
})();
