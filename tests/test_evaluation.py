"""Evidence about HYDRA: equity curves and metrics, the backtest report, and one real ``hydra evaluate`` run."""

from __future__ import annotations

import json
from zipfile import ZipFile

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.cli import main
from hydra_plugins.evaluation import equity
from hydra_plugins.evaluation.evidence import MlAccuracy
from hydra_plugins.evaluation.report import BUY_AND_HOLD, Run, build_report, exit_family, group_table, write_report
from hydra_plugins.training.backtests import read_result
from tests.conftest import DATADIR, FUTURES, needs_data

T0 = pd.Timestamp("2024-01-01", tz="UTC")
M15 = pd.Timedelta(minutes=15)
PNG = b"\x89PNG\r\n\x1a\n"


def at(i: int) -> pd.Timestamp:
    return T0 + i * M15


def span(candles: int = 4, wallet: float = 1000.0) -> equity.Span:
    return equity.Span(T0, at(candles), M15, wallet)


def prices(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.DatetimeIndex([at(i) for i in range(len(values))]))


def trade(pair: str, opened: int, closed: int, rate: float, amount: float, profit: float, short: bool = False, **more):
    return {
        "pair": pair, "open_date": at(opened), "close_date": at(closed), "open_rate": rate, "amount": amount,
        "is_short": short, "profit_abs": profit, "profit_ratio": profit / 100.0, "exit_reason": "roi",
        "enter_tag": "FUNDING_SQUEEZE", **more,
    }  # fmt: skip


# Equity curves


def test_mark_to_market_counts_open_trades_at_each_close_and_closed_trades_at_their_profit():
    closes = {"BTC": prices([100, 110, 90, 120]), "ETH": prices([10, 10, 8, 12])}
    trades = pd.DataFrame(
        [
            trade("BTC", 1, 2, 105.0, 2.0, 9.0),  # long from candle 1's open, exits inside candle 2
            trade("ETH", 0, 3, 10.0, 5.0, -11.0, short=True),  # short from the start, exits inside the last candle
        ]
    )
    balance = equity.mark_to_market(trades, closes, span())
    assert list(balance.index) == [at(i) for i in range(5)]
    expected = [
        1000.0,  # the start
        1000.0 - 5 * (10 - 10),  # candle 0 closed: BTC not open yet; ETH short flat
        1000.0 + 2 * (110 - 105) - 5 * (10 - 10),  # candle 1 closed: both open
        1000.0 + 9.0 - 5 * (8 - 10),  # candle 2 (BTC's exit candle) closed: its profit; ETH short gains
        1000.0 + 9.0 - 11.0,  # candle 3 (ETH's exit candle) closed: both profits only
    ]
    assert balance.to_numpy() == pytest.approx(expected)


def test_mark_to_market_reads_times_of_any_resolution():
    # Trades read back from CSV and spans from ISO text come in seconds or microseconds, not nanoseconds.
    s = equity.Span(T0.as_unit("s"), at(4).as_unit("s"), M15, 1000.0)
    trades = pd.DataFrame([trade("BTC", 1, 2, 105.0, 2.0, 9.0)])
    trades["close_date"] = trades["close_date"].dt.as_unit("ms")
    assert equity.mark_to_market(trades, {"BTC": prices([100, 110, 90, 120])}, s).iloc[-1] == pytest.approx(1009.0)


def test_mark_to_market_without_trades_is_flat():
    assert (equity.mark_to_market(pd.DataFrame(), {}, span()).to_numpy() == 1000.0).all()


def test_buy_and_hold_splits_the_wallet_equally_at_the_first_open():
    opens = {"BTC": prices([100, 100, 100, 100]), "ETH": prices([20, 10, 10, 10])}
    closes = {"BTC": prices([100, 110, 90, 150]), "ETH": prices([10, 10, 8, 30])}
    balance = equity.buy_and_hold(closes, opens, span())
    assert balance.iloc[0] == pytest.approx(1000.0)
    assert balance.iloc[-1] == pytest.approx(500 * 150 / 100 + 500 * 30 / 20)
    assert balance.iloc[3] == pytest.approx(500 * 90 / 100 + 500 * 8 / 20)
    with pytest.raises(ValueError, match="at least one pair"):
        equity.buy_and_hold({}, {}, span())


def test_exposure_is_the_union_of_open_intervals_to_the_end_of_each_exit_candle():
    trades = pd.DataFrame([trade("BTC", 0, 2, 1, 1, 1), trade("ETH", 1, 3, 1, 1, 1), trade("SOL", 6, 8, 1, 1, 1)])
    assert equity.exposure(trades, span(10)) == pytest.approx((4 + 3) / 10)  # [0, 4) and [6, 9)
    assert equity.exposure(pd.DataFrame(), span(10)) == 0.0


def test_metrics_of_a_known_curve():
    days = pd.date_range("2024-01-01", periods=5, freq="1D", tz="UTC")
    balance = pd.Series([100.0, 120.0, 90.0, 99.0, 110.0], index=days)
    s = equity.Span(days[0], days[-1], pd.Timedelta(days=1), 100.0)
    trades = pd.DataFrame([trade("BTC", 0, 1, 1, 1, 30.0), trade("BTC", 1, 2, 1, 1, -20.0)])
    row = equity.metrics(balance, trades, s)
    assert row["return_pct"] == pytest.approx(10.0)
    assert row["max_drawdown_pct"] == pytest.approx(25.0)  # 120 -> 90
    assert row["profit_factor"] == pytest.approx(1.5) and row["trades"] == 2 and row["win_rate_pct"] == 50.0
    returns = balance.pct_change().dropna()
    assert row["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=0) * np.sqrt(365))
    hold = equity.metrics(balance, None, s)
    assert hold["exposure_pct"] == 100.0 and np.isnan(hold["profit_factor"]) and np.isnan(hold["trades"])
    assert equity.profit_factor(pd.DataFrame([trade("BTC", 0, 1, 1, 1, 5.0)])) == float("inf")


def test_monthly_returns_chain_from_the_previous_month_end():
    # Balances at candle closes; the one at 2024-04-01 00:00 closes March's last candle, so it counts in March.
    times = pd.DatetimeIndex(
        ["2024-01-01", "2024-01-31", "2024-02-15", "2024-02-29", "2024-03-10", "2024-04-01"], tz="UTC"
    )
    balance = pd.Series([100.0, 110.0, 99.0, 121.0, 121.0, 133.1], index=times)
    months = equity.monthly_returns(balance, M15)
    assert list(months.index) == ["2024-01", "2024-02", "2024-03"]
    assert months.to_numpy() == pytest.approx([10.0, 10.0, 10.0])


# The report's tables


@pytest.mark.parametrize(
    ("reason", "family"),
    [
        ("hydra_kill_funding_spike", "kill switch"),
        ("hydra_thesis_funding_squeeze", "thesis broken"),
        ("hydra_llm_exit", "LLM"),
        ("stop_loss", "stop"),
        ("hydra_stop", "stop"),
        ("trailing_stop_loss", "stop"),
        ("liquidation", "stop"),
        ("hydra_take_profit", "take-profit"),
        ("roi", "take-profit"),
        ("hydra_time_stop", "time limit"),
        ("force_exit", "forced (operator, or the backtest's end)"),
        ("exit_signal", "other"),
    ],
)
def test_exit_families(reason, family):
    assert exit_family(reason) == family


def test_group_table_per_signal():
    trades = pd.DataFrame(
        [trade("BTC", 0, 1, 1, 1, 10.0), trade("BTC", 1, 2, 1, 1, -5.0), trade("ETH", 0, 1, 1, 1, 3.0, enter_tag="X")]
    )
    table = group_table(trades, trades["enter_tag"], "signal").set_index("signal")
    assert table.loc["FUNDING_SQUEEZE", "trades"] == 2 and table.loc["FUNDING_SQUEEZE", "profit_factor"] == 2.0
    assert table.loc["FUNDING_SQUEEZE", "win_rate_pct"] == 50.0 and table.loc["X", "profit_abs"] == 3.0


def test_ml_accuracy_counts():
    ml = MlAccuracy(
        threshold=0.5, signals=100, profitable=40, allowed=20, allowed_profitable=12, notes=(), per_signal=None
    )
    assert ml.precision == pytest.approx(0.6) and ml.recall == pytest.approx(0.3) and ml.base_rate == 0.4
    assert ml.rejected == 80 and ml.rejected_losing == 80 - 28
    assert ml.accuracy == pytest.approx((12 + 52) / 100)


def test_the_report_renders_every_section(tmp_path):
    s = span(8)
    closes = {"BTC": prices([100, 101, 102, 99, 98, 103, 104, 105])}
    trades = pd.DataFrame([trade("BTC", 1, 3, 101, 1, 2.0), trade("BTC", 4, 6, 99, 1, -1.0, exit_reason="stop_loss")])
    report = build_report("HYDRA test", ["intro <b>"], [Run("Hydra", trades)], s, ["BTC"], (closes, closes))
    files = write_report(report, tmp_path)
    html = files["html"].read_text()
    assert "intro &lt;b&gt;" in html  # escaped
    for heading in (
        "Headline",
        "Monthly returns",
        "Per signal",
        "Per regime at entry",
        "Per exit family",
        "ML accuracy",
    ):
        assert heading in html
    assert BUY_AND_HOLD in html and "unknown: the backtest was not run with --export signals" in html
    for key in ("equity", "drawdown", "monthly", "signals", "exits"):
        assert files[key].read_bytes()[:8] == PNG and f'src="{files[key].name}"' in html
    summary = json.loads(files["json"].read_text())
    assert [m["strategy"] for m in summary["metrics"]] == ["Hydra", BUY_AND_HOLD]
    assert summary["metrics"][0]["final_balance"] == pytest.approx(1001.0)


def test_an_ablation_runs_unless_it_cannot_change_what_hydra_did():
    from hydra_plugins.core.config import load_hydra_config
    from hydra_plugins.evaluation.compare import VARIANTS, _unchanged

    variants = {v.key: v for v in VARIANTS}
    config = {"hydra": {"alpha": {"news_analyst": {"enabled": True}}}}
    cfg = load_hydra_config(config["hydra"])
    llm, ml, kill = variants["no_llm_gate"], variants["no_ml_gate"], variants["no_kill_switches"]
    assert _unchanged(config, cfg, llm.overlay(cfg), llm, {}) == ""
    assert "changes nothing" in _unchanged({}, load_hydra_config({}), llm.overlay(cfg), llm, {})
    assert _unchanged(config, cfg, ml.overlay(cfg), ml, {"scorer": "in use (models/x.cbm)"}) == ""
    assert "not in use" in _unchanged(config, cfg, ml.overlay(cfg), ml, {"scorer": "off (config)"})
    assert _unchanged(config, cfg, kill.overlay(cfg), kill, {}) == ""


# One real run


@needs_data
@pytest.mark.backtest
def test_hydra_evaluate_and_report_backtest_end_to_end(tmp_path, clean_env, capsys):
    pairs = ["SOL/USDT:USDT", "DOGE/USDT:USDT"]
    out = tmp_path / "evaluate" / "20240401-20240501"
    (out / "backtest_no_llm_gate").mkdir(parents=True)  # an earlier evaluation's, when the LLM gate was on
    (out / "overlay_no_llm_gate.json").write_text("{}")
    code = main(
        [
            "evaluate", "-c", "config/config.json", "-c", "config/all-signals.json",
            "--timerange", "20240401-20240501", "--pairs", *pairs, "--datadir", str(DATADIR),
            "--store", str(tmp_path / "no-store.sqlite"), "--output-dir", str(tmp_path / "evaluate"),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    labels = [
        "Hydra", "Hydra without the ML gate", "Hydra without the LLM gate", "Hydra without kill switches",
        "Reference: Freqtrade's SampleStrategy", BUY_AND_HOLD,
    ]  # fmt: skip
    for label in labels:
        assert f"| {label} |" in printed
    summary = json.loads((out / "evaluation.json").read_text())
    rows = {m["strategy"]: m for m in summary["metrics"]}
    assert list(rows) == labels and rows["Hydra"]["trades"] > 0

    # Each backtested row is Freqtrade's own result: trades, and the final balance (every trade closed by the end).
    for key, label in (("hydra", "Hydra"), ("no_kill_switches", labels[3])):
        result = read_result(out / f"backtest_{key}", "Hydra")
        assert rows[label]["trades"] == result.stats["total_trades"]
        assert rows[label]["final_balance"] == pytest.approx(result.stats["final_balance"], rel=1e-9)
    reference = read_result(out / "backtest_reference", "SampleStrategy")
    assert rows[labels[4]]["trades"] == reference.stats["total_trades"] > 0

    # The ablations change one setting each. The LLM gate is off in these configs and the shipped scorer's card
    # does not recommend it (so auto mode leaves it off): neither ablation could differ, and neither ran again.
    assert "HYDRA signal scorer: verified but not used" in (out / "freqtrade_hydra.log").read_text()
    assert json.loads((out / "overlay_no_kill_switches.json").read_text())["hydra"]["risk"]["kill_switches"] == {
        "enabled": False
    }
    for key, label in (("no_llm_gate", labels[2]), ("no_ml_gate", labels[1])):
        assert not (out / f"backtest_{key}").exists() and not (out / f"overlay_{key}.json").exists()
        assert rows[label] == {**rows["Hydra"], "strategy": label}
    notes = summary["notes"]
    assert any(n.startswith("Hydra without the LLM gate: not run again, its overlay") for n in notes)
    assert "Hydra without the ML gate: not run again, the signal scorer was not in use in Hydra's run" in " ".join(
        notes
    )

    # Buy-and-hold from the candles themselves.
    change = []
    for symbol in ("SOL", "DOGE"):
        candles = pd.read_feather(FUTURES / f"{symbol}_USDT_USDT-15m-futures.feather")
        inside = candles[(candles["date"] >= "2024-04-01") & (candles["date"] <= "2024-05-01")]
        change.append(inside["close"].iloc[-1] / inside["open"].iloc[0])
    assert rows[BUY_AND_HOLD]["final_balance"] == pytest.approx(10_000 * np.mean(change), rel=1e-9)

    # The scorer judged the span's signals; the inputs say what was recorded.
    ml = summary["ml"]
    assert ml["signals"] > 0 and 0 <= ml["allowed_profitable"] <= min(ml["allowed"], ml["profitable"])
    inputs = {row["input"]: row for row in summary["inputs"]}
    assert inputs["funding settlements"]["status"] == "recorded"
    assert inputs["liquidations"]["status"] == "proxied" and inputs["order book"]["status"] == "absent"

    # The risk journal of each Hydra run is kept beside its result, and Hydra's is counted in the report.
    from hydra_plugins.risk.journal import count_events, read_journal

    journal = count_events(read_journal(out / "backtest_hydra_risk_journal.jsonl"))
    events = {(e["event"], e["code"]): e["count"] for e in summary["risk_events"]}
    assert events == {
        ({"refused": "entry refused", "fired": "kill switch fired", "expired": "cool-down over"}[kind], code): n
        for kind, codes in journal.items() for code, n in codes.items()
    } and events  # fmt: skip
    off = count_events(read_journal(out / "backtest_no_kill_switches_risk_journal.jsonl"))
    assert "fired" not in off

    html = (out / "evaluation.html").read_text()
    assert 'src="evaluation_equity.png"' in html and (out / "evaluation_equity.png").read_bytes()[:8] == PNG

    # hydra report backtest on Hydra's own result gives the same headline.
    code = main(
        ["report", "backtest", str(out / "backtest_hydra"), "--datadir", str(DATADIR),
         "--output-dir", str(tmp_path / "r"), "--store", str(tmp_path / "no-store.sqlite")]
    )  # fmt: skip
    assert code == 0
    single = json.loads((tmp_path / "r" / "report.json").read_text())
    assert single["metrics"][0] == rows["Hydra"]
    assert "regime at entry" in single["per_regime"][0]
    assert sum(r["trades"] for r in single["per_regime"]) == rows["Hydra"]["trades"]
    assert "unknown" not in {r["regime at entry"] for r in single["per_regime"]}

    # A result exported without --export signals (Freqtrade's default) still reports; the regime is unknown.
    original = read_result(out / "backtest_hydra").result
    bare = tmp_path / "bare" / original.name
    bare.parent.mkdir()
    with ZipFile(original) as source, ZipFile(bare, "w") as target:
        for name in source.namelist():
            if not name.endswith(("_signals.pkl", "_rejected.pkl", "_exited.pkl")):
                target.writestr(name, source.read(name))
    assert main(["report", "backtest", str(bare), "--datadir", str(DATADIR), "--output-dir", str(tmp_path / "b"),
                 "--store", str(tmp_path / "no-store.sqlite")]) == 0  # fmt: skip
    summary = json.loads((tmp_path / "b" / "report.json").read_text())
    assert summary["metrics"][0] == rows["Hydra"]
    assert {r["regime at entry"] for r in summary["per_regime"]} == {"unknown"}


def test_the_llm_gate_input_says_off_absent_or_how_many_verdicts(tmp_path):
    from hydra_plugins.alpha.news_verdict import Verdict
    from hydra_plugins.alpha.verdict_journal import VerdictJournal
    from hydra_plugins.core.config import load_hydra_config
    from hydra_plugins.evaluation.evidence import news_gate_coverage

    start, end = pd.Timestamp("2022-03-01", tz="UTC"), pd.Timestamp("2022-04-01", tz="UTC")
    journal = tmp_path / "llm.sqlite"
    assert news_gate_coverage(load_hydra_config({}), journal, start, end)["status"].startswith("off")
    on = load_hydra_config({"alpha": {"news_analyst": {"enabled": True}}})
    assert news_gate_coverage(on, journal, start, end)["status"].startswith("absent: no verdict journal")
    store = VerdictJournal(journal)
    # Known before the span and still in force at its start; inside; known before and expired; at the span's end.
    for known, hours in (("2022-02-28 23:30", 1), ("2022-03-02", 1), ("2022-02-27", 1), ("2022-04-01", 1)):
        at = pd.Timestamp(known, tz="UTC").to_pydatetime()
        store.record_verdict(
            Verdict(base="BTC", action="hold", confidence=0.8, horizon_hours=4, reasons=("r",), article_ids=("a",),
                    available_at=at, expires_at=at + pd.Timedelta(hours=hours), source="llm"),
            prompt_hash=None, model="m",
        )  # fmt: skip
    assert news_gate_coverage(on, journal, start, end)["status"] == (
        f"recorded: 2 verdicts in force during the span, in {journal}"
    )
    later = pd.Timestamp("2023-01-01", tz="UTC")
    assert "holds no verdict in the span" in news_gate_coverage(on, journal, later, later + M15)["status"]


def test_risk_events_are_counted_over_the_run_s_journals(tmp_path):
    from hydra_plugins.evaluation.report import risk_events
    from hydra_plugins.risk.journal import RiskJournal

    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for path in paths:
        journal = RiskJournal(path)
        journal.write("refused", T0.to_pydatetime(), code="gate_block", pair="BTC")
        journal.write("fired", T0.to_pydatetime(), code="cascade", pair="*")
    RiskJournal(paths[1]).write("refused", T0.to_pydatetime(), code="no_edge", pair="ETH")
    table = risk_events(paths)
    assert table.to_dict(orient="records") == [
        {"event": "entry refused", "code": "gate_block", "count": 2},
        {"event": "entry refused", "code": "no_edge", "count": 1},
        {"event": "kill switch fired", "code": "cascade", "count": 2},
    ]
    assert risk_events([]) is None


def test_identical_curves_are_drawn_once_under_both_labels():
    from hydra_plugins.evaluation.report import distinct_curves

    a, b = prices([1.0, 2.0]), prices([1.0, 3.0])
    assert list(distinct_curves({"Hydra": a, "X": b, "Y": a.copy()})) == ["X", "Hydra = Y"]


def test_the_sample_note_reads_the_card_s_training_span():
    from hydra_plugins.evaluation.report import sample_note

    s = equity.Span(pd.Timestamp("2023-07-01", tz="UTC"), pd.Timestamp("2024-07-01", tz="UTC"), M15, 1.0)

    def card(text):
        return {"training": {"span": text, "timerange": "20220101-"}}

    assert sample_note("scorer", card("2022-01-03 16:30 -> 2023-06-25 00:00 UTC"), s).startswith("Out of sample")
    assert sample_note("scorer", card("2022-01-03 16:30 -> 2023-09-25 00:00 UTC"), s).startswith("In sample")
    assert sample_note("scorer", card("2024-07-01 00:00 -> 2024-09-01 00:00 UTC"), s).startswith("Not out of sample")
    assert "unknown" in sample_note("scorer", {"training": {}}, s)


@needs_data
def test_prices_load_for_hour_timeframes_too():
    from hydra_plugins.evaluation.report import load_prices

    s = equity.Span(
        pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-02", tz="UTC"), pd.Timedelta(hours=1), 1.0
    )
    opens, closes = load_prices(DATADIR, ["BTC/USDT:USDT", "NOPE/USDT:USDT"], s, "1h")
    assert list(closes) == list(opens) == ["BTC/USDT:USDT"] and len(closes["BTC/USDT:USDT"]) == 24


def test_a_scorer_that_failed_its_checks_is_ablated_for_real():
    from hydra_plugins.core.config import load_hydra_config
    from hydra_plugins.evaluation.compare import VARIANTS, _unchanged

    ml = next(v for v in VARIANTS if v.key == "no_ml_gate")
    cfg = load_hydra_config({})
    # As Hydra's log says it (model_statuses): a scorer that failed its checks stopped every entry.
    assert _unchanged({}, cfg, ml.overlay(cfg), ml, {"scorer": "NOT LOADED, new entries stop: sha256 mismatch"}) == ""
    assert _unchanged({}, cfg, ml.overlay(cfg), ml, {"scorer": "no model at models/x.cbm; running without it"})


def test_options_before_walk_forward_are_refused_not_dropped(capsys):
    for argv in (["evaluate", "-c", "x.json", "walk-forward"], ["evaluate", "--pairs", "A", "walk-forward"]):
        assert main(argv) != 0
        assert "walk-forward" in capsys.readouterr().err
