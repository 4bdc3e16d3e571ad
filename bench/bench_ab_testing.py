"""A/B experiments (``quantum_trader.experiments``): error rates of the sequential test, its
power on paired replays of the real data, Thompson sampling's regret, and the sample-ratio check.

Everything runs the package's own classes: ``MixtureSequentialTest`` (one lane per simulated
experiment), ``Allocation`` / ``draw_arm`` and ``srm_check``. Seeded by ``--seed``.

1. **A/A false positives.** ``--aa-lanes`` A/A experiments of ``--aa-horizon`` samples, the test
   read after every sample (MixtureSequentialTest(lanes, alpha=0.05, horizon=4000,
   min_samples=100); a lane counts once, at its first rejection). Noise: Student-t(3)
   innovations through AR(1) = 0.2 (x_t = 0.2 x_{t-1} + e_t), and iid Gaussian for comparison;
   next to it, a naive t-test peeked at every sample from 100 on (|mean| / (sd / sqrt(n)) > 1.96
   at any n) on the same t(3)/AR series, and the same t-test read once, at the horizon.
2. **Power on paired replays of the real data.** Two arms' hourly returns on the Binance USDT-M
   1h candles under ``QT_DATA_DIR`` (default /work/shared/data): equal-weight time-series
   momentum over every symbol (position = sign of the last L hours' return, decided at a
   candle's close and held over the next candle: no look-ahead; gross of costs unless
   ``--cost-bp``), arm A with L = 24 h and arm B with L = 72, 36 or 30 h (``--pairs``). The
   evidence is D = B - A per hour. Null: D demeaned. Alternative: the demeaned D plus
   delta = ``--sharpe`` * std(B) / sqrt(8760) per hour, i.e. B's annualised Sharpe raised by
   ``--sharpe`` (1.0) at B's own volatility. Replays: circular block bootstrap of the hours in
   weekly blocks (168 h), ``--replays`` per pair, the same resampled hours for the null and the
   alternative and for every pair; the test runs with horizon H = each of ``--years`` (8760 h
   a year; replays longer than the 3.6 years of data reuse its weeks). Power = share of
   alternative replays rejected with a positive mean within H; the false-positive rate is the
   share of null replays rejected either way.
3. **Thompson sampling's regret.** Two arms whose per-observation rewards are independent
   t(3)/AR(1) = 0.2 series scaled to unit sd, arm b better by each of ``--edges`` sd (the ratio
   depends on the edge against the noise and on the discount's memory); ``--sims`` runs of
   ``--steps`` decisions. Each step the arm is ``draw_arm(probabilities, key=f"{sim}:{t}")``
   and the regret is mu_best - mu_drawn. Full information (every arm's reward observed each
   step, as in the system, where every arm trades a sub-ledger) and bandit feedback (the drawn
   arm's only). Thompson (default floor, discount, min sample; ``--draws`` posterior samples)
   against the fixed 50/50 split, on the same rewards and keys.
4. **Sample-ratio mismatch.** ``--srm-sims`` assignments of ``--srm-units`` units: fair ones
   (draw_arm with the stated probabilities: a fixed 50/50 split, and the varying probabilities
   of a Thompson allocation) for the false-alarm rate, and skewed ones (arm a drawn with 52, 55,
   60 % while the probabilities say 50 %) for the detection rate.

Prints each section, a summary table, and writes the figures as JSON (``--out``; default
bench/results/ab_testing.json when bench/results exists, else /tmp/ab_testing.json).
``--quick`` is a smoke run of well under a minute; the full run takes several minutes on 2 cores.

    PYTHONPATH=src .venv/bin/python bench/bench_ab_testing.py            # full
    PYTHONPATH=src .venv/bin/python bench/bench_ab_testing.py --quick    # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import signal, stats

from quantum_trader.experiments.allocation import Allocation, AllocationConfig, draw_arm
from quantum_trader.experiments.sequential import LongRunVariance, MixtureSequentialTest
from quantum_trader.experiments.srm import SRM_ALARM_P, srm_check

PPY = 8760  # hourly samples per year
WEEK = 168  # bootstrap block, hours
ALPHA = 0.05
MIN_SAMPLES = 100
AR = 0.2
DF = 3


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson 95 % interval of a binomial proportion k / n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson(k, n)
    return {"k": int(k), "n": int(n), "rate": k / n if n else math.nan, "ci95": [lo, hi]}


def fmt_rate(r: dict[str, Any]) -> str:
    lo, hi = r["ci95"]
    return f"{r['rate']:6.2%} [{lo:.2%}, {hi:.2%}] ({r['k']}/{r['n']})"


def t3_ar(rng: np.random.Generator, steps: int, lanes: int) -> np.ndarray:
    """(steps, lanes) of x_t = 0.2 x_{t-1} + e_t, e ~ t(3) scaled so that x has unit variance."""
    e = rng.standard_t(DF, size=(steps, lanes)) * math.sqrt((DF - 2) / DF * (1 - AR * AR))
    return np.asarray(signal.lfilter([1.0], [1.0, -AR], e, axis=0))


def sequential_first_rejections(series: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Feed (steps, lanes) paired differences to one MixtureSequentialTest, one sample at a
    time; each lane's first rejection (sample, -1 if none) and the sign of its mean then."""
    lanes = series.shape[1]
    test = MixtureSequentialTest(lanes, alpha=ALPHA, horizon=horizon, min_samples=MIN_SAMPLES)
    sign = np.zeros(lanes)
    for t in range(min(horizon, series.shape[0])):
        test.update(series[t])
        newly = test.rejected_at == test.samples
        if newly.any():
            sign[newly] = np.sign(test.variance.mean()[newly])
    return test.rejected_at.copy(), sign


# ---------------------------------------------------------------------------- 1. A/A
def naive_peeking(series: np.ndarray, start: int, chunk: int = 250) -> tuple[int, int]:
    """Lanes whose plain t statistic exceeds 1.96 at any n >= start, and at the last n only."""
    steps, lanes = series.shape
    n = np.arange(1, steps + 1, dtype=np.float64)[:, None]
    anywhere = at_end = 0
    for lo in range(0, lanes, chunk):
        x = series[:, lo : lo + chunk]
        s1 = np.cumsum(x, axis=0)
        s2 = np.cumsum(x * x, axis=0)
        mean = s1 / n
        with np.errstate(divide="ignore", invalid="ignore"):
            var = (s2 - n * mean * mean) / (n - 1)
            z = np.abs(mean) / np.sqrt(var / n)
        hit = z[start - 1 :] > 1.96
        anywhere += int(hit.any(axis=0).sum())
        at_end += int(hit[-1].sum())
    return anywhere, at_end


def section_false_positives(lanes: int, horizon: int, seed: int) -> dict[str, Any]:
    print(
        f"\n== 1. A/A false positives: {lanes} experiments x {horizon} samples, peeking after "
        f"every sample (alpha {ALPHA}, min_samples {MIN_SAMPLES}) =="
    )
    rng = np.random.default_rng([seed, 1])
    out: dict[str, Any] = {"lanes": lanes, "horizon": horizon, "alpha": ALPHA}
    started = time.perf_counter()
    heavy = t3_ar(rng, horizon, lanes)
    at, _ = sequential_first_rejections(heavy, horizon)
    out["msprt_t3_ar"] = rate(int((at >= 0).sum()), lanes)
    if (at >= 0).any():
        out["msprt_t3_ar"]["median_rejection_sample"] = float(np.median(at[at >= 0]))
    seconds = time.perf_counter() - started
    gauss = rng.standard_normal((horizon, lanes))
    at_g, _ = sequential_first_rejections(gauss, horizon)
    out["msprt_gauss_iid"] = rate(int((at_g >= 0).sum()), lanes)
    anywhere, at_end = naive_peeking(heavy, MIN_SAMPLES)
    out["naive_t_peeking_t3_ar"] = rate(anywhere, lanes)
    out["naive_t_once_at_horizon_t3_ar"] = rate(at_end, lanes)
    g_any, _ = naive_peeking(gauss, MIN_SAMPLES)
    out["naive_t_peeking_gauss_iid"] = rate(g_any, lanes)
    out["seconds_per_sample_per_test"] = seconds / horizon
    for key, label in (
        ("msprt_t3_ar", "mSPRT, t(3) + AR(1) 0.2, every sample"),
        ("msprt_gauss_iid", "mSPRT, Gaussian iid, every sample"),
        ("naive_t_peeking_t3_ar", "naive t-test, t(3)+AR, every n >= 100"),
        ("naive_t_peeking_gauss_iid", "naive t-test, Gaussian iid, every n >= 100"),
        ("naive_t_once_at_horizon_t3_ar", f"naive t-test, t(3)+AR, once at n={horizon}"),
    ):
        print(f"  {label:<44} {fmt_rate(out[key])}")
    print(f"  ({seconds / horizon * 1e6:.0f} µs per sample for {lanes} lanes)")
    return out


# ---------------------------------------------------------------------------- 2. power
def load_closes(data_dir: Path) -> tuple[np.ndarray, list[str]]:
    files = sorted((data_dir / "ohlcv").glob("*-1h.parquet"))
    if not files:
        raise SystemExit(f"no 1h candles under {data_dir / 'ohlcv'}; set QT_DATA_DIR")
    columns = {}
    for f in files:
        frame = pd.read_parquet(f, columns=["timestamp", "close"])
        columns[f.name.split("-")[0]] = frame.set_index("timestamp")["close"]
    closes = pd.concat(columns, axis=1, join="inner").sort_index()
    return closes.to_numpy(dtype=np.float64), list(closes.columns)


def momentum_returns(closes: np.ndarray, lookback: int, start: int, cost_bp: float) -> np.ndarray:
    """Hourly return of equal-weight time-series momentum: position sign(c_t / c_{t-L} - 1),
    set at candle t's close and held over candle t+1; returns for candles start+1 .. end."""
    mom = np.zeros_like(closes)
    mom[lookback:] = closes[lookback:] / closes[:-lookback] - 1.0
    pos = np.sign(mom)
    ret = closes[1:] / closes[:-1] - 1.0  # ret[t] = candle t+1's return
    pnl = (pos[:-1] * ret).mean(axis=1)
    turnover = np.abs(np.diff(pos, axis=0, prepend=0.0))[:-1].mean(axis=1)
    pnl = pnl - cost_bp * 1e-4 * turnover
    return np.asarray(pnl[start:])


def sharpe(x: np.ndarray) -> float:
    return float(x.mean() / x.std() * math.sqrt(PPY))


def section_power(
    data_dir: Path,
    pairs: list[tuple[int, int]],
    replays: int,
    years: list[float],
    edge_sharpe: float,
    cost_bp: float,
    seed: int,
) -> dict[str, Any]:
    closes, symbols = load_closes(data_dir)
    start = max(max(p) for p in pairs)
    horizons = sorted({round(y * PPY) for y in years})
    print(
        f"\n== 2. Power on paired replays: {len(symbols)} symbols, {closes.shape[0]} hourly "
        f"candles; +{edge_sharpe} annualised Sharpe; {replays} replays per pair; horizons "
        f"{', '.join(f'{h / PPY:g} y' for h in horizons)} =="
    )
    arms = {L: momentum_returns(closes, L, start, cost_bp) for pair in pairs for L in pair}
    n_hours = len(next(iter(arms.values())))
    d_raw = np.stack([arms[b] - arms[a] for a, b in pairs])  # (pairs, hours)
    # the long-run variance of each whole D, with the package's estimator
    lrv = LongRunVariance(len(pairs))
    for t in range(n_hours):
        lrv.update(d_raw[:, t])
    long_run = lrv.variance()
    d0 = d_raw - d_raw.mean(axis=1, keepdims=True)
    out: dict[str, Any] = {
        "symbols": symbols,
        "hours": n_hours,
        "cost_bp": cost_bp,
        "sharpe_edge": edge_sharpe,
        "delta_definition": "delta per hour = sharpe_edge * std(B) / sqrt(8760), added to the "
        "demeaned D = B - A (B's annualised Sharpe + sharpe_edge at B's volatility)",
        "replays": replays,
        "block_hours": WEEK,
        "horizons_hours": horizons,
        "pairs": [],
    }
    z80 = stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(0.8)
    deltas = []
    for i, (a, b) in enumerate(pairs):
        ra, rb = arms[a], arms[b]
        delta = edge_sharpe * rb.std() / math.sqrt(PPY)
        deltas.append(delta)
        rho = float(np.corrcoef(ra, rb)[0, 1])
        sd_d = float(d_raw[i].std())
        d_eff = delta / math.sqrt(long_run[i])  # effect per hour in long-run sd of D
        fixed_n80 = (z80 / d_eff) ** 2
        info = {
            "arm_a": f"TSMOM {a}h",
            "arm_b": f"TSMOM {b}h",
            "sharpe_a": sharpe(ra),
            "sharpe_b": sharpe(rb),
            "corr": rho,
            "std_a_hourly": float(ra.std()),
            "std_b_hourly": float(rb.std()),
            "std_d_hourly": sd_d,
            "std_d_over_std_b": sd_d / float(rb.std()),
            "sqrt_2_1_minus_rho": math.sqrt(2 * (1 - rho)),
            "lrv_over_var_d": float(long_run[i] / d_raw[i].var()),
            "delta_hourly": delta,
            "fixed_t_test_hours_for_80pct": fixed_n80,
        }
        out["pairs"].append(info)
        print(
            f"  pair {i + 1}: A = TSMOM {a}h (Sharpe {info['sharpe_a']:+.2f}), B = TSMOM {b}h "
            f"(Sharpe {info['sharpe_b']:+.2f}); corr {rho:.3f}; std(D)/std(B) "
            f"{info['std_d_over_std_b']:.3f} (sqrt(2(1-rho)) {info['sqrt_2_1_minus_rho']:.3f}); "
            f"LRV/var(D) {info['lrv_over_var_d']:.2f}; delta {delta * 1e4:.3f} bp/h; a fixed "
            f"one-look t-test would need {fixed_n80:,.0f} h ({fixed_n80 / PPY:.1f} y)"
        )

    # lanes: for each pair, replays null lanes then the same replays with delta added
    rng = np.random.default_rng([seed, 2])
    longest = horizons[-1]
    blocks = -(-longest // WEEK)
    starts = rng.integers(0, n_hours, size=(replays, blocks))
    pair_of = np.repeat(np.arange(len(pairs)), 2 * replays)
    replay_of = np.tile(np.arange(replays), 2 * len(pairs))
    shift = np.tile(np.repeat([0.0, 1.0], replays), len(pairs)) * np.repeat(deltas, 2 * replays)
    lane_starts = starts[replay_of]
    lanes = len(pair_of)
    tests = {
        h: MixtureSequentialTest(lanes, alpha=ALPHA, horizon=h, min_samples=MIN_SAMPLES)
        for h in horizons
    }
    signs = {h: np.zeros(lanes) for h in horizons}
    started = time.perf_counter()
    for t in range(longest):
        idx = (lane_starts[:, t // WEEK] + t % WEEK) % n_hours
        x = d0[pair_of, idx] + shift
        for h, test in tests.items():
            if t < h:
                test.update(x)
                newly = test.rejected_at == test.samples
                if newly.any():
                    signs[h][newly] = np.sign(test.variance.mean()[newly])
    seconds = time.perf_counter() - started
    out["seconds"] = seconds
    for i, info in enumerate(out["pairs"]):
        null = slice(2 * i * replays, (2 * i + 1) * replays)
        alt = slice((2 * i + 1) * replays, (2 * i + 2) * replays)
        info["by_horizon"] = []
        for h in horizons:
            at, sg = tests[h].rejected_at, signs[h]
            pos = (at[alt] >= 0) & (sg[alt] > 0)
            row = {
                "horizon_hours": h,
                "horizon_years": h / PPY,
                "power": rate(int(pos.sum()), replays),
                "wrong_sign": rate(int(((at[alt] >= 0) & (sg[alt] < 0)).sum()), replays),
                "median_rejection_hours": float(np.median(at[alt][pos])) if pos.any() else None,
                "false_positive": rate(int((at[null] >= 0).sum()), replays),
            }
            info["by_horizon"].append(row)
        reached = [r for r in info["by_horizon"] if r["power"]["rate"] >= 0.8]
        info["smallest_horizon_80pct_years"] = reached[0]["horizon_years"] if reached else None
    print(
        f"  {'pair':<16}{'corr':>6}{'H (y)':>7}  {'power (reject, mean > 0)':<32}"
        f"{'median stop':>12}  {'false positives (null)':<30}"
    )
    for info in out["pairs"]:
        for row in info["by_horizon"]:
            med = row["median_rejection_hours"]
            stop = f"{med / PPY:.2f} y" if med is not None else "-"
            print(
                f"  {info['arm_a'][6:] + ' v ' + info['arm_b'][6:]:<16}{info['corr']:>6.3f}"
                f"{row['horizon_years']:>7g}  {fmt_rate(row['power']):<32}{stop:>12}  "
                f"{fmt_rate(row['false_positive'])}"
            )
    print(
        "  smallest listed horizon with power >= 80 %: "
        + "; ".join(
            f"{p['arm_a'][6:]} v {p['arm_b'][6:]} (corr {p['corr']:.2f}): "
            + (
                f"{p['smallest_horizon_80pct_years']:g} y"
                if p["smallest_horizon_80pct_years"]
                else f"none up to {horizons[-1] / PPY:g} y"
            )
            for p in out["pairs"]
        )
    )
    print(
        "  relation: the sample needed scales with var(D) / var(B) ~ 2 (1 - corr) (and with "
        "LRV/var); fixed-test hours for 80 % = (z_0.975 + z_0.8)^2 * LRV(D) / delta^2; the "
        "mSPRT pays for peeking on top of that"
    )
    print(f"  ({seconds:.0f} s for {lanes} lanes x {sum(horizons):,} samples)")
    return out


# ---------------------------------------------------------------------------- 3. regret
def run_allocation(
    feedback: str,
    rewards: np.ndarray,
    mu: np.ndarray,
    sim: int,
    config: AllocationConfig,
    seed: int,
) -> tuple[float, float, float, float]:
    """One run: its cumulative (pseudo-)regret, share of arm b, b's final probability, and the
    share of steps after the first 2 * min_samples whose weights were withheld (fixed split
    for want of a sample)."""
    arms = ("a", "b")
    allocation = Allocation(config, arms, seed=seed + sim)
    best = float(mu.max())
    regret = 0.0
    chose_b = withheld = 0
    warm = 2 * allocation.config.min_samples
    for t in range(rewards.shape[1]):
        withheld += t >= warm and allocation.withheld()
        arm = draw_arm(allocation.probabilities(), key=f"{sim}:{t}", seed=seed)
        i = 0 if arm == "a" else 1
        regret += best - mu[i]
        chose_b += i
        if feedback == "full":
            allocation.observe({"a": float(rewards[0, t]), "b": float(rewards[1, t])})
        else:
            allocation.observe({arm: float(rewards[i, t])})
    steps = rewards.shape[1]
    return regret, chose_b / steps, allocation.probabilities()["b"], withheld / max(steps - warm, 1)


def section_regret(
    sims: int, steps: int, edges: list[float], draws: int, discount: float, seed: int
) -> dict[str, Any]:
    print(
        f"\n== 3. Thompson sampling vs fixed 50/50: {sims} runs x {steps} steps per edge, arm b "
        f"better by {edges} sd (t(3), AR(1) {AR}); Thompson draws={draws}, discount={discount} =="
    )
    timing = Allocation(AllocationConfig(kind="thompson"), ("a", "b"), seed=0)
    clock = time.perf_counter()
    for t in range(500):
        timing.observe({"a": float(t % 3), "b": float(t % 5)})
    default_us = (time.perf_counter() - clock) / 500 * 1e6
    print(f"  Allocation.observe with Thompson's default draws=4000: {default_us:.0f} µs")
    out: dict[str, Any] = {"sims": sims, "steps": steps, "draws": draws, "discount": discount,
                           "observe_us_default_draws_4000": default_us, "by_edge": {}}  # fmt: skip
    for edge in edges:
        out["by_edge"][str(edge)] = regret_at(sims, steps, edge, draws, discount, seed)
    return out


def regret_at(
    sims: int, steps: int, edge: float, draws: int, discount: float, seed: int
) -> dict[str, Any]:
    """Thompson's and the fixed split's regret at one edge, both feedbacks."""
    mu = np.array([0.0, edge])
    out: dict[str, Any] = {}
    for feedback in ("full", "bandit"):
        res: dict[str, Any] = {}
        for kind in ("thompson", "fixed"):
            config = AllocationConfig(kind=kind, draws=draws, discount=discount)
            started = time.perf_counter()
            rows = []
            for sim in range(sims):
                rng = np.random.default_rng([seed, 3, sim])
                rewards = mu[:, None] + t3_ar(rng, steps, 2).T
                rows.append(run_allocation(feedback, rewards, mu, sim, config, seed))
            arr = np.array(rows)
            res[kind] = {
                "mean_regret": float(arr[:, 0].mean()),
                "se_regret": float(arr[:, 0].std(ddof=1) / math.sqrt(sims)) if sims > 1 else 0.0,
                "share_b": float(arr[:, 1].mean()),
                "final_p_b": float(arr[:, 2].mean()),
                "withheld_share_after_warmup": float(arr[:, 3].mean()),
                "seconds": time.perf_counter() - started,
            }
        ts, fixed = res["thompson"], res["fixed"]
        ratio = ts["mean_regret"] / max(fixed["mean_regret"], 1e-12)
        res["ratio_thompson_over_fixed"] = ratio
        res["ratio_se"] = ratio * math.hypot(
            ts["se_regret"] / max(ts["mean_regret"], 1e-12),
            fixed["se_regret"] / max(fixed["mean_regret"], 1e-12),
        )
        out[feedback] = res
        for kind in ("thompson", "fixed"):
            r = res[kind]
            print(
                f"  edge {edge:<5} {feedback:<6} {kind:<8} regret {r['mean_regret']:7.2f} ± "
                f"{r['se_regret']:.2f} (reward sd) | b drawn {r['share_b']:.1%} | final P(b) "
                f"{r['final_p_b']:.2f} | withheld {r['withheld_share_after_warmup']:.1%} | "
                f"{r['seconds']:.0f} s"
            )
        print(
            f"  edge {edge:<5} {feedback:<6} Thompson / fixed: {ratio:.3f} ± {res['ratio_se']:.3f}"
        )
    return out


# ---------------------------------------------------------------------------- 4. SRM
def thompson_trajectory(units: int, edge: float, draws: int, seed: int) -> list[dict[str, float]]:
    """The probabilities a Thompson allocation (full information) gives over ``units`` steps."""
    rng = np.random.default_rng([seed, 4])
    rewards = np.array([0.0, edge])[:, None] + t3_ar(rng, units, 2).T
    allocation = Allocation(AllocationConfig(kind="thompson", draws=draws), ("a", "b"), seed=seed)
    out = []
    for t in range(units):
        out.append(allocation.probabilities())
        allocation.observe({"a": float(rewards[0, t]), "b": float(rewards[1, t])})
    return out


def srm_rate(
    name: str, sims: int, drawn: list[dict[str, float]], stated: list[dict[str, float]], seed: int
) -> dict[str, Any]:
    """Alarms over ``sims`` assignments of len(drawn) units: unit u drawn with drawn[u], checked
    against the stated probabilities."""
    expected = {a: float(sum(p[a] for p in stated)) for a in ("a", "b")}
    alarms = 0
    share_a = 0.0
    for sim in range(sims):
        counts = {"a": 0, "b": 0}
        for u, probabilities in enumerate(drawn):
            counts[draw_arm(probabilities, key=f"{name}:{sim}:{u}", seed=seed)] += 1
        alarms += srm_check(counts, expected).alarm
        share_a += counts["a"] / len(drawn)
    out = rate(alarms, sims)
    out["mean_share_a"] = share_a / sims
    out["expected_share_a"] = expected["a"] / len(drawn)
    return out


def section_srm(
    sims: int, units: int, skews: list[float], edge: float, draws: int, seed: int
) -> dict[str, Any]:
    print(
        f"\n== 4. Sample-ratio mismatch: {sims} assignments x {units} units; alarm at chi-square "
        f"p < {SRM_ALARM_P} =="
    )
    started = time.perf_counter()
    half = [{"a": 0.5, "b": 0.5}] * units
    varying = thompson_trajectory(units, edge, draws, seed)
    pa = np.array([p["a"] for p in varying])
    out: dict[str, Any] = {"sims": sims, "units": units, "alarm_p": SRM_ALARM_P}
    out["fair_fixed"] = srm_rate("fixed", sims, half, half, seed)
    out["fair_thompson"] = srm_rate("thompson", sims, varying, varying, seed)
    out["fair_thompson"]["p_a_range"] = [float(pa.min()), float(pa.max())]
    print(f"  fair 50/50                     false alarms {fmt_rate(out['fair_fixed'])}")
    print(
        f"  fair Thompson (P(a) {pa.min():.2f}..{pa.max():.2f}, mean {pa.mean():.2f}) false "
        f"alarms {fmt_rate(out['fair_thompson'])}"
    )
    z_alarm = stats.norm.ppf(1 - SRM_ALARM_P / 2)
    out["skewed"] = []
    for s in skews:
        r = srm_rate(f"skew{s}", sims, [{"a": s, "b": 1 - s}] * units, half, seed)
        # normal approximation: units at which the alarm fires with 80 % probability
        r["skew"] = s
        r["units_for_80pct_normal_approx"] = (
            (z_alarm * 0.5 + stats.norm.ppf(0.8) * math.sqrt(s * (1 - s))) / (s - 0.5)
        ) ** 2
        out["skewed"].append(r)
        print(
            f"  skewed: a drawn {s:.0%} vs stated 50 %  detected {fmt_rate(r)}; 80 % detection "
            f"needs ~{r['units_for_80pct_normal_approx']:,.0f} units"
        )
    out["seconds"] = time.perf_counter() - started
    return out


# ---------------------------------------------------------------------------- main
def default_out() -> Path:
    results = Path(__file__).resolve().parent / "results"
    return results / "ab_testing.json" if results.is_dir() else Path("/tmp/ab_testing.json")


def summary(res: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str, str]] = []
    aa = res.get("false_positives", {})
    fp = aa.get("msprt_t3_ar", {"rate": math.nan, "k": 0, "n": 0, "ci95": [math.nan] * 2})
    rows.append(
        (
            "1 A/A FPR, t(3)+AR, peeking",
            fmt_rate(fp),
            "4 % .. 6 %",
            "PASS" if 0.04 <= fp["rate"] <= 0.06 else "FAIL",
        )
    )
    if aa:
        gauss, naive = aa["msprt_gauss_iid"], aa["naive_t_peeking_t3_ar"]
        rows.append(("1 A/A FPR, Gaussian iid", fmt_rate(gauss), "(reference)", ""))
        rows.append(("1 naive t-test peeking, t(3)+AR", fmt_rate(naive), "(why)", ""))
    else:
        rows.pop()
    for p in res.get("power", {}).get("pairs", []):
        top = max(p["by_horizon"], key=lambda r: r["power"]["rate"])
        h80 = p["smallest_horizon_80pct_years"]
        label = f"2 power +1 SR, {p['arm_a'][6:]} v {p['arm_b'][6:]} (r={p['corr']:.2f})"
        found = (
            f"{h80:g} y" if h80 else f"max {top['power']['rate']:.0%} at {top['horizon_years']:g} y"
        )
        rows.append((label, found, ">= 80 %", "PASS" if h80 else "FAIL"))
        worst = max(r["false_positive"]["rate"] for r in p["by_horizon"])
        rows.append(
            (
                f"2 null FPR, {p['arm_a'][6:]} v {p['arm_b'][6:]} (worst H)",
                f"{worst:.2%}",
                f"<= {ALPHA:.0%}",
                "PASS" if worst <= ALPHA else "FAIL",
            )
        )
    for edge, by_feedback in res.get("regret", {}).get("by_edge", {}).items():
        for feedback, r in by_feedback.items():
            ratio = r["ratio_thompson_over_fixed"]
            rows.append(
                (
                    f"3 TS/fixed regret, edge {edge} sd, {feedback}",
                    f"{ratio:.3f} ± {r['ratio_se']:.3f}",
                    "<= 0.50",
                    "PASS" if ratio <= 0.5 else "FAIL",
                )
            )
    srm = res.get("srm", {"skewed": []})
    for key, label in (("fair_fixed", "50/50"), ("fair_thompson", "Thompson")):
        if key not in srm:
            continue
        r = srm[key]
        rows.append(
            (
                f"4 SRM false alarms, fair {label}",
                fmt_rate(r),
                f"~{SRM_ALARM_P:.1%}",
                "PASS" if r["ci95"][0] <= SRM_ALARM_P else "FAIL",
            )
        )
    for r in srm["skewed"]:
        rows.append(
            (
                f"4 SRM detection, {r['skew']:.0%} skew, {srm['units']} units",
                fmt_rate(r),
                "(reported)",
                "",
            )
        )
    width = max(len(r[0]) for r in rows)
    print("\n== Summary ==")
    for name, value, target, verdict in rows:
        print(f"  {name:<{width}}  {value:<34} {target:<14} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20240616)
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 1 minute)")
    parser.add_argument("--out", type=Path, default=None, help="JSON figures (see docstring)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("QT_DATA_DIR", "/work/shared/data"))
    )
    parser.add_argument("--aa-lanes", type=int, default=2000)
    parser.add_argument("--aa-horizon", type=int, default=4000)
    parser.add_argument("--pairs", default="24:72,24:36,24:30", help="arm lookbacks A:B, hours")
    parser.add_argument("--replays", type=int, default=400)
    parser.add_argument("--years", default="1,2,4,8", help="test horizons in years of hours")
    parser.add_argument("--sharpe", type=float, default=1.0, help="injected annualised Sharpe")
    parser.add_argument("--cost-bp", type=float, default=0.0, help="cost per unit turnover")
    parser.add_argument("--sims", type=int, default=100)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--edge", type=float, default=0.05, help="SRM's Thompson trajectory edge")
    parser.add_argument("--edges", default="0.02,0.05,0.1", help="regret: arm b's edges, sd")
    parser.add_argument("--draws", type=int, default=4000, help="Thompson posterior draws")
    parser.add_argument("--discount", type=float, default=AllocationConfig().discount)
    parser.add_argument("--srm-sims", type=int, default=1000)
    parser.add_argument("--srm-units", type=int, default=5000)
    parser.add_argument("--skews", default="0.52,0.55,0.6")
    parser.add_argument("--sections", default="1,2,3,4", help="which of the four to run")
    args = parser.parse_args()
    if args.quick:
        args.aa_lanes, args.replays, args.years = 300, 50, "0.5"
        args.sims, args.steps, args.draws, args.srm_sims = 6, 1000, 500, 40
    pairs = [(int(p.split(":")[0]), int(p.split(":")[1])) for p in args.pairs.split(",")]
    years = [float(y) for y in args.years.split(",")]
    skews = [float(s) for s in args.skews.split(",")]
    edges = [float(e) for e in args.edges.split(",")]

    sections = {int(k) for k in args.sections.split(",")}
    runs: dict[int, tuple[str, Callable[[], dict[str, Any]]]] = {
        1: ("false_positives", lambda: section_false_positives(args.aa_lanes, args.aa_horizon,
                                                               args.seed)),
        2: ("power", lambda: section_power(args.data_dir, pairs, args.replays, years, args.sharpe,
                                           args.cost_bp, args.seed)),
        3: ("regret", lambda: section_regret(args.sims, args.steps, edges, args.draws,
                                             args.discount, args.seed)),
        4: ("srm", lambda: section_srm(args.srm_sims, args.srm_units, skews, args.edge,
                                       args.draws, args.seed)),
    }  # fmt: skip
    started = time.perf_counter()
    res: dict[str, Any] = {"seed": args.seed, "quick": args.quick, "args": vars(args).copy()}
    res["args"]["data_dir"] = str(args.data_dir)
    res["args"]["out"] = str(args.out)
    res["seconds"] = {}
    for number, (name, run) in runs.items():
        if number in sections:
            clock = time.perf_counter()
            res[name] = run()
            res["seconds"][name] = time.perf_counter() - clock
    res["seconds"]["total"] = time.perf_counter() - started
    summary(res)
    out = args.out or default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    secs = res["seconds"]
    print(
        f"\nwall time {secs['total']:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in secs.items() if k != "total")
        + f"); figures in {out}"
    )


if __name__ == "__main__":
    main()
