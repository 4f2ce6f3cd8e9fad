"""`hydra report signals` and `hydra calibrate cascade` as a user runs them, on the shared data."""

import pandas as pd
import pytest

from hydra_plugins.alpha.signals import REGISTRY
from hydra_plugins.cli import main
from hydra_plugins.stats.cascade import CascadeModel
from tests.conftest import ROOT, data_root, needs_data

pytestmark = needs_data


def test_report_signals_writes_table_csv_and_png(tmp_path, capsys):
    out = tmp_path / "reports"
    code = main(
        [
            "report", "signals", "-c", str(ROOT / "config" / "config.json"), "--data-root", str(data_root()),
            "--pairs", "BTC/USDT:USDT", "ETH/USDT:USDT", "--timerange", "20240401-20240506",
            "--output-dir", str(out), "--store", str(tmp_path / "none.sqlite"),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert (out / "signals.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = pd.read_csv(out / "signal_summary.csv")
    events = pd.read_csv(out / "signal_events.csv")
    assert set(summary["signal"]) == set(events["signal"]) and set(events["signal"]) <= set(REGISTRY)
    silent = set(REGISTRY) - set(events["signal"])
    assert not silent or f"Never fired on this data: {', '.join(s for s in REGISTRY if s in silent)}" in printed
    assert {"FUNDING_SQUEEZE", "OI_DIVERGENCE"} <= set(events["signal"])
    # OI_DIVERGENCE fired only on the days Binance's metrics archive covers, on real open interest.
    oi_days = pd.to_datetime(events.loc[events["signal"] == "OI_DIVERGENCE", "date"]).dt.strftime("%Y-%m-%d")
    assert set(oi_days) <= {"2024-04-12", "2024-05-02", "2024-05-03", "2024-05-04"}
    assert not events.loc[events["signal"] == "OI_DIVERGENCE", "proxy"].any()
    # Net = gross - fees - funding, event by event.
    diff = events["gross_pct"] - events["fee_pct"] - events["funding_pct"] - events["net_pct"]
    assert diff.abs().max() < 1e-9
    assert "| FUNDING_SQUEEZE" in printed and "95% CI" in printed
    assert (out / "signals.md").read_text().startswith("HYDRA signal event study")


def test_report_reads_thresholds_from_a_strategy_parameter_file(tmp_path, capsys):
    def squeeze_events(params):
        out = tmp_path / params.stem
        args = ["report", "signals", "--data-root", str(data_root()), "--pairs", "DOGE/USDT:USDT"]
        args += ["--timerange", "20240201-20240401", "--output-dir", str(out), "--params", str(params)]
        assert main(args) == 0, capsys.readouterr()
        events = pd.read_csv(out / "signal_events.csv")
        return int((events["signal"] == "FUNDING_SQUEEZE").sum())

    loose, strict = tmp_path / "loose.json", tmp_path / "strict.json"
    loose.write_text('{"strategy_name": "Hydra", "params": {"buy": {"funding_squeeze_threshold_8h": 0.0003}}}')
    strict.write_text('{"strategy_name": "Hydra", "params": {"buy": {"funding_squeeze_threshold_8h": 0.0012}}}')
    assert squeeze_events(loose) > squeeze_events(strict)
    bad = tmp_path / "bad.json"
    bad.write_text('{"params": {"buy": {"funding_squeeze_threshold_8h": "high"}}}')
    assert (
        main(["report", "signals", "--data-root", str(data_root()), "--pairs", "DOGE/USDT:USDT", "--params", str(bad)])
        == 2
    )
    assert "params.buy must map parameter names to numbers" in capsys.readouterr().err


def test_the_study_counts_what_the_strategy_would_trade():
    from hydra_plugins.alpha.signals.funding_squeeze import FundingSqueeze
    from hydra_plugins.commands.research import _as_selected
    from hydra_plugins.core import columns as col
    from hydra_plugins.stats.regime import Regime

    sig = FundingSqueeze(weight=0.9)
    conf = col.signal_column(sig.name, "conf")
    frame = pd.DataFrame({col.REGIME: [Regime.SQUEEZE_LONG, Regime.HIGH_VOLATILITY, Regime.CASCADE_RISK], conf: 0.6})
    assert _as_selected(frame, sig)[conf].tolist() == pytest.approx([0.54, 0.378, 0.0])  # x fit x weight


def test_report_needs_pairs_and_data(tmp_path, capsys):
    assert main(["report", "signals", "--data-root", str(data_root())]) == 2
    assert "no pairs" in capsys.readouterr().err
    assert main(["report", "signals", "--data-root", str(tmp_path), "--pairs", "BTC/USDT:USDT"]) == 2
    assert "no Freqtrade data" in capsys.readouterr().err


def test_calibrate_cascade_fits_checks_and_writes_a_loadable_file(tmp_path, capsys):
    output = tmp_path / "cascade.json"
    code = main(
        [
            "calibrate", "cascade", "--data-root", str(data_root()), "--pairs", "SOL/USDT:USDT", "DOGE/USDT:USDT",
            "--fit", "20230101-20230601", "--check", "20230601-20230901", "--output", str(output),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    model = CascadeModel.load(output)
    check = model.report["check"]
    assert model.report["fit"]["timerange"] == "20230101-20230601" and check["timerange"] == "20230601-20230901"
    assert 0 < check["positive_rate"] < 0.2 and check["rows"] > 10_000
    assert set(check["alerts"]) == {"0.4", "0.5", "0.7"}
    assert "warned before" in printed and "Brier" in printed


def test_calibrate_rejects_bad_arguments(capsys):
    assert (
        main(["calibrate", "cascade", "--data-root", str(data_root()), "--pairs", "BTC/USDT:USDT", "--fit", "2023"])
        == 2
    )
    assert "timerange '2023'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["calibrate", "cascade", "--pairs", "BTC/USDT:USDT", "--move-atr", "x"])
