"""Binance's daily UM "metrics" archive files (``<SYMBOL>-metrics-YYYY-MM-DD.csv``, or ``.zip``).

Each 5-minute row holds open interest and three positioning ratios as Binance sampled them at
``create_time``. A row is taken as known ``publish_lag`` after its ``create_time``; ``create_time``
carries a second or two of jitter, so the event time is snapped to the 5-minute grid while the
availability keeps the real sampling time.

Column meanings (Binance's names → HYDRA's series):

=================================  ==========================================================
sum_open_interest                  Freqtrade open_interest candles: open_interest_amount
sum_open_interest_value            Freqtrade open_interest candles: open_interest_value (USDT)
count_toptrader_long_short_ratio   top_long_short_account.long_short_ratio
sum_toptrader_long_short_ratio     top_long_short_position.long_short_ratio
count_long_short_ratio             global_long_short.long_short_ratio
sum_taker_long_short_vol_ratio     taker_ratio.buy_sell_ratio
=================================  ==========================================================
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd

SOURCE = "binance_metrics_archive"
GRID = pd.Timedelta(minutes=5)
COLUMNS = (
    "create_time", "symbol", "sum_open_interest", "sum_open_interest_value", "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio", "count_long_short_ratio", "sum_taker_long_short_vol_ratio",
)  # fmt: skip


class MetricsFormatError(ValueError):
    """A metrics file is not in Binance's documented layout."""


def read_metrics_file(path: Path) -> pd.DataFrame:
    """Read one archive file, CSV or the zip Binance publishes it in, into a raw frame."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise MetricsFormatError(f"{path}: expected one CSV inside the zip, found {names}")
            text = archive.read(names[0]).decode()
    else:
        text = path.read_text()
    return parse_metrics_csv(text, origin=str(path))


def parse_metrics_csv(text: str, origin: str = "metrics") -> pd.DataFrame:
    """Parse the CSV text of one metrics file; raise MetricsFormatError naming what is wrong."""
    try:
        raw = pd.read_csv(io.StringIO(text), dtype={"symbol": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MetricsFormatError(f"{origin}: not a CSV file ({exc})") from None
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise MetricsFormatError(f"{origin}: missing columns {missing}")
    raw = raw.loc[:, list(COLUMNS)]
    raw["create_time"] = pd.to_datetime(raw["create_time"], format="%Y-%m-%d %H:%M:%S", utc=True, errors="coerce")
    numeric = list(COLUMNS[2:])
    raw[numeric] = raw[numeric].apply(pd.to_numeric, errors="coerce")
    bad = raw["create_time"].isna() | raw["symbol"].isna()
    if bad.all():
        raise MetricsFormatError(f"{origin}: no row has a valid create_time and symbol")
    return raw.loc[~bad].reset_index(drop=True)


def metrics_to_series(raw: pd.DataFrame, publish_lag: pd.Timedelta) -> dict[str, pd.DataFrame]:
    """Turn parsed metrics rows into intel-store frames, one per positioning series.

    Open interest goes to Freqtrade's own ``open_interest`` candles instead (:func:`open_interest_candles`).
    """
    event_time = raw["create_time"].dt.round(GRID)
    base = pd.DataFrame(
        {
            "symbol": raw["symbol"],
            "source": SOURCE,
            "event_time": event_time,
            "available_at": raw["create_time"].where(raw["create_time"] > event_time, event_time) + publish_lag,
        }
    )

    def ratio(column: str) -> pd.DataFrame:
        r = raw[column]
        return base.assign(long_short_ratio=r, long_account=r / (1 + r), short_account=1 / (1 + r))

    return {
        "top_long_short_account": ratio("count_toptrader_long_short_ratio"),
        "top_long_short_position": ratio("sum_toptrader_long_short_ratio"),
        "global_long_short": ratio("count_long_short_ratio"),
        "taker_ratio": base.assign(buy_sell_ratio=raw["sum_taker_long_short_vol_ratio"]),
    }


def open_interest_candles(raw: pd.DataFrame) -> pd.DataFrame:
    """Return Freqtrade ``open_interest`` candles (``date, open_interest_amount, open_interest_value``).

    Freqtrade stamps a candle by its open time, and Binance's openInterestHist row at T is the value
    sampled at T; HYDRA's own join shifts by the candle length, as for every candle type.
    """
    frame = pd.DataFrame(
        {
            "date": raw["create_time"].dt.round(GRID),
            "open_interest_amount": raw["sum_open_interest"],
            "open_interest_value": raw["sum_open_interest_value"],
        }
    )
    return frame.dropna().drop_duplicates("date", keep="first").sort_values("date", ignore_index=True)
