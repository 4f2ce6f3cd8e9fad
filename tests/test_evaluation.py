"""Evidence about HYDRA: equity curves and metrics, the backtest report, and one real ``hydra evaluate`` run."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from hydra_plugins.cli import main
from hydra_plugins.evaluation import equity
from hydra_plugins.evaluation.evidence import MlAccuracy
from hydra_plugins.evaluation.report import BUY_AND_HOLD, Run, build_report, exit_family, group_table, write_report
from hydra_plugins.training.backtests import read_result
from tests.conftest import DATADIR, FUTURES, ROOT, needs_data

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
            trade("BTC", 1, 3, 105.0, 2.0, 9.0),  # long from candle 1's open, closed at candle 3's open
            trade("ETH", 0, 4, 10.0, 5.0, -11.0, short=True),  # short the whole span
        ]
    )
    balance = equity.mark_to_market(trades, closes, span())
    assert list(balance.index) == [at(i) for i in range(5)]
    expected = [
        1000.0,  # the start
        1000.0 + 0.0 - 5 * (10 - 10),  # candle 0 closed: BTC not open yet; ETH short flat
        1000.0 + 2 * (110 - 105) - 5 * (10 - 10),
        1000.0 + 9.0 - 5 * (8 - 10),  # BTC closed at candle 3's open: its profit; ETH short gains
        1000.0 + 9.0 - 11.0,  # both closed: their profits only
    ]
    assert balance.to_numpy() == pytest.approx(expected)


def test_mark_to_market_reads_times_of_any_resolution():
    # Trades read back from CSV and spans from ISO text come in seconds or microseconds, not nanoseconds.
    s = equity.Span(T0.as_unit("s"), at(4).as_unit("s"), M15, 1000.0)
    trades = pd.DataFrame([trade("BTC", 1, 3, 105.0, 2.0, 9.0)])
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


def test_exposure_is_the_union_of_open_intervals():
    trades = pd.DataFrame([trade("BTC", 0, 2, 1, 1, 1), trade("ETH", 1, 3, 1, 1, 1), trade("SOL", 6, 8, 1, 1, 1)])
    assert equity.exposure(trades, span(10)) == pytest.approx(5 / 10)
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
    times = pd.DatetimeIndex(["2024-01-01", "2024-01-31", "2024-02-15", "2024-02-29", "2024-03-10"], tz="UTC")
    months = equity.monthly_returns(pd.Series([100.0, 110.0, 99.0, 121.0, 121.0], index=times))
    assert list(months.index) == ["2024-01", "2024-02", "2024-03"]
    assert months.to_numpy() == pytest.approx([10.0, 10.0, 0.0])


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
        ("force_exit", "operator"),
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


@pytest.fixture
def clean_env(monkeypatch):
    for name in [k for k in os.environ if k.startswith("FREQTRADE__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HYDRA_DOTENV", "0")
    monkeypatch.delenv("PYTEST_VERSION", raising=False)  # Freqtrade sets up no logging (no --logfile) under pytest
    monkeypatch.chdir(ROOT)


@needs_data
@pytest.mark.backtest
def test_hydra_evaluate_and_report_backtest_end_to_end(tmp_path, clean_env, capsys):
    pairs = ["SOL/USDT:USDT", "DOGE/USDT:USDT"]
    code = main(
        [
            "evaluate", "-c", "config/config.json", "-c", "config/all-signals.json",
            "--timerange", "20240401-20240501", "--pairs", *pairs, "--datadir", str(DATADIR),
            "--store", str(tmp_path / "no-store.sqlite"), "--output-dir", str(tmp_path / "evaluate"),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    out = tmp_path / "evaluate" / "20240401-20240501"
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
        assert not (out / f"backtest_{key}").exists()
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
    for day in ("2022-02-27", "2022-03-02", "2022-03-30", "2022-04-01"):
        known = pd.Timestamp(day, tz="UTC").to_pydatetime()
        store.record_verdict(
            Verdict(base="BTC", action="hold", confidence=0.8, horizon_hours=4, reasons=("r",), article_ids=("a",),
                    available_at=known, expires_at=known + pd.Timedelta(hours=1), source="llm"),
            prompt_hash=None, model="m",
        )  # fmt: skip
    assert news_gate_coverage(on, journal, start, end)["status"] == f"recorded: 2 verdicts in {journal}"
    later = pd.Timestamp("2023-01-01", tz="UTC")
    assert "holds no verdict in the span" in news_gate_coverage(on, journal, later, later + M15)["status"]


def test_identical_curves_are_drawn_once_under_both_labels():
    from hydra_plugins.evaluation.report import distinct_curves

    a, b = prices([1.0, 2.0]), prices([1.0, 3.0])
    assert list(distinct_curves({"Hydra": a, "X": b, "Y": a.copy()})) == ["X", "Hydra = Y"]
