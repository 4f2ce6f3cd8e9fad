"""Binance's metrics archive: parsing, and the importer into Freqtrade candles and the intel store."""

import zipfile
from pathlib import Path

import pandas as pd
import pytest
from freqtrade.data.history import load_pair_history
from freqtrade.enums import CandleType

from hydra_plugins.cli import main as hydra_main
from hydra_plugins.commands.intel import expand_paths, import_metrics, status_table
from hydra_plugins.core.symbols import pair_to_symbol, symbol_to_pair
from hydra_plugins.intel.sources.binance_metrics import (
    MetricsFormatError,
    metrics_to_series,
    parse_metrics_csv,
    read_metrics_file,
)
from hydra_plugins.intel.store import IntelStore
from tests.conftest import data_root

METRICS = data_root() / "binance-metrics"
needs_metrics = pytest.mark.skipif(not METRICS.is_dir(), reason=f"no metrics archive under {METRICS}")
LAG = pd.Timedelta(minutes=1)
HEADER = (
    "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
    "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n"
)


def test_parse_snaps_jittered_times_to_the_grid_and_keeps_real_availability():
    text = (
        HEADER
        + "2024-05-02 00:05:01,BTCUSDT,10,600000,2.0,1.5,3.0,0.8\n2024-05-02 00:10:00,BTCUSDT,11,650000,1,1,1,1\n"
    )
    raw = parse_metrics_csv(text)
    series = metrics_to_series(raw, LAG)
    top = series["top_long_short_account"]
    assert top["event_time"].tolist() == [
        pd.Timestamp("2024-05-02 00:05", tz="UTC"),
        pd.Timestamp("2024-05-02 00:10", tz="UTC"),
    ]
    assert top["available_at"].iloc[0] == pd.Timestamp("2024-05-02 00:06:01", tz="UTC")
    assert top["long_short_ratio"].iloc[0] == 2.0
    assert top["long_account"].iloc[0] == pytest.approx(2 / 3) and top["short_account"].iloc[0] == pytest.approx(1 / 3)
    assert series["top_long_short_position"]["long_short_ratio"].iloc[0] == 1.5
    assert series["global_long_short"]["long_short_ratio"].iloc[0] == 3.0
    assert series["taker_ratio"]["buy_sell_ratio"].iloc[0] == 0.8
    assert (series["taker_ratio"]["source"] == "binance_metrics_archive").all()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a CSV"),
        ("a,b\n1,2\n", "missing columns"),
        (HEADER + "not-a-date,,1,1,1,1,1,1\n", "no row has a valid create_time"),
    ],
)
def test_malformed_files_are_refused_with_the_reason(text, message):
    with pytest.raises(MetricsFormatError, match=message):
        parse_metrics_csv(text)


def test_bad_rows_are_dropped_and_bad_numbers_become_missing():
    text = HEADER + "garbage,BTCUSDT,1,1,1,1,1,1\n2024-05-02 00:05:00,BTCUSDT,x,1,1,1,1,1\n"
    raw = parse_metrics_csv(text)
    assert len(raw) == 1 and pd.isna(raw["sum_open_interest"].iloc[0])


def test_symbol_to_pair():
    assert symbol_to_pair("DOGEUSDT") == "DOGE/USDT:USDT"
    with pytest.raises(ValueError, match="USDT-margined"):
        symbol_to_pair("BTCUSD_PERP")
    assert pair_to_symbol("DOGE/USDT:USDT") == "DOGEUSDT"
    with pytest.raises(ValueError, match="USDT-M perpetual"):
        pair_to_symbol("BTC/USDT")


@needs_metrics
def test_import_real_metrics_days_into_candles_and_store(tmp_path):
    store = IntelStore(tmp_path / "intel.sqlite")
    datadir = tmp_path / "binance"
    results = import_metrics([METRICS], datadir, store, LAG)
    assert len(results) == 16 and all(r.rows == 288 for r in results)
    assert sum(r.oi_candles_added for r in results) == 16 * 288
    again = import_metrics([METRICS / "BTCUSDT"], datadir, store, LAG)
    assert [r.oi_candles_added + r.store_rows_added for r in again] == [0, 0, 0, 0]  # idempotent

    oi = load_pair_history(
        pair="BTC/USDT:USDT", timeframe="5m", datadir=datadir, candle_type=CandleType.OPEN_INTEREST
    )  # what Freqtrade itself reads
    assert list(oi.columns) == ["date", "open_interest_amount", "open_interest_value"]
    assert oi["date"].min() == pd.Timestamp("2024-04-12 00:05", tz="UTC")
    assert oi["date"].max() == pd.Timestamp("2024-05-05 00:00", tz="UTC")
    sel = oi.loc[oi["date"] == pd.Timestamp("2024-05-02 00:05", tz="UTC")].iloc[0]
    assert sel["open_interest_amount"] == pytest.approx(67753.571)
    assert sel["open_interest_value"] == pytest.approx(3967350899.215973)

    ratios = store.read("top_long_short_account", "BTCUSDT")
    assert len(ratios) == 4 * 288
    assert ratios["long_short_ratio"].iloc[288] == pytest.approx(2.80276654)  # 2024-05-02 00:05
    table = status_table(store, datadir, ["BTC/USDT:USDT", "ETH/USDT:USDT"], pd.Timestamp("2024-05-06", tz="UTC"))
    btc = table.loc[table["pair"] == "BTC/USDT:USDT"]
    assert set(btc["source_series"]) == {
        "freqtrade open_interest 5m", "global_long_short", "taker_ratio", "top_long_short_account",
        "top_long_short_position", "liquidation",
    }  # fmt: skip
    assert btc.loc[btc["source_series"] == "liquidation", "kind"].iloc[0].startswith("proxy")


@needs_metrics
def test_the_zip_form_reads_like_the_csv(tmp_path):
    csv_path = METRICS / "ETHUSDT" / "ETHUSDT-metrics-2024-05-03.csv"
    zipped = tmp_path / "ETHUSDT-metrics-2024-05-03.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(csv_path, arcname=csv_path.name)
    pd.testing.assert_frame_equal(read_metrics_file(zipped), read_metrics_file(csv_path))
    assert expand_paths([tmp_path]) == [zipped]
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w"):
        pass
    with pytest.raises(MetricsFormatError, match="one CSV"):
        read_metrics_file(empty)


@needs_metrics
def test_cli_import_and_status(tmp_path, capsys):
    store, datadir = tmp_path / "intel.sqlite", tmp_path / "binance"
    code = hydra_main(
        ["intel", "import-metrics", str(METRICS / "XRPUSDT"), "--datadir", str(datadir), "--store", str(store)]
    )
    assert code == 0
    assert "Imported 3 file(s)" in capsys.readouterr().out
    assert hydra_main(["intel", "status", "--store", str(store), "--datadir", str(datadir)]) == 0
    out = capsys.readouterr().out
    assert "XRP/USDT:USDT" in out and "top_long_short_position" in out and "open_interest" in out
    assert hydra_main(["intel", "import-metrics", str(tmp_path / "missing.csv"), "--store", str(store)]) == 2
    assert "no such metrics file" in capsys.readouterr().err


def test_status_without_anything_recorded(tmp_path, capsys):
    assert hydra_main(["intel", "status", "--store", str(tmp_path / "none.sqlite")]) == 0
    assert "No intel recorded yet" in capsys.readouterr().out
    assert status_table(None, None, [], pd.Timestamp("2024-01-01", tz="UTC")).empty
    only_proxy = status_table(None, None, ["BTC/USDT:USDT"], pd.Timestamp("2024-01-01", tz="UTC"))
    assert only_proxy["kind"].tolist() == ["proxy (labelled hydra_liq_is_proxy)"]
    assert Path(tmp_path / "none.sqlite").exists() is False
