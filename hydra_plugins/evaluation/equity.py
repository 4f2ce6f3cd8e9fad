"""Equity curves and the comparison metrics, computed the same way for every strategy and for buy-and-hold.

* :func:`mark_to_market`: a backtest's balance at every candle close: the starting balance, plus the
  profit of every trade closed by then (Freqtrade's ``profit_abs``: fees and funding included), plus
  each open trade's unrealised move (``amount x (close - open_rate)``, negated for shorts). Freqtrade's
  own wallet history counts closed trades only, so a trade deep under water would not show in the
  drawdown until it closed. A trade is held from its entry candle's open to the end of its exit
  candle: Freqtrade dates an exit by the open of the candle it happened in, and most (stops,
  take-profits) happen inside it, so its profit counts from that candle's close.
* :func:`buy_and_hold`: the same starting balance split equally over the pairs at the first candle's
  open and held (no leverage, no fees, no funding, no rebalancing).
* :func:`metrics`: return, max drawdown, Sharpe, Sortino, Calmar (Freqtrade's own ``*_from_balance``
  functions on the daily balance), profit factor, trades, win rate and exposure (the share of the
  span with at least one position open).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from freqtrade.data.metrics import (
    calculate_calmar_from_balance,
    calculate_max_drawdown_from_balance,
    calculate_sharpe_from_balance,
    calculate_sortino_from_balance,
)

BALANCE = "total_quote"  # the column Freqtrade's balance metrics read


@dataclass(frozen=True)
class Span:
    """What a comparison covers: ``[start, end)`` on candles of ``timeframe``, from ``wallet``."""

    start: pd.Timestamp
    end: pd.Timestamp
    timeframe: pd.Timedelta
    wallet: float

    def closes(self) -> pd.DatetimeIndex:
        """Every candle close in the span, the first candle's open first (the starting balance)."""
        return pd.date_range(self.start, self.end, freq=self.timeframe, inclusive="both").as_unit("ns")


def _utc(values: pd.Series | Sequence) -> pd.DatetimeIndex:
    # One resolution everywhere: the times are compared as integers.
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ns")


def mark_to_market(trades: pd.DataFrame, closes: Mapping[str, pd.Series], span: Span) -> pd.Series:
    """Return the balance at each candle close of ``span`` (see the module's docstring).

    ``trades`` are Freqtrade's backtest trades (``pair, open_date, close_date, open_rate, amount,
    is_short, profit_abs``); ``closes`` each pair's close prices indexed by candle open. A pair
    without candles counts its trades at their realised profit only.
    """
    times = span.closes()
    balance = np.full(len(times), float(span.wallet))
    if trades.empty:
        return pd.Series(balance, index=times, name=BALANCE)
    opened = _utc(trades["open_date"])
    closed = _utc(trades["close_date"]) + span.timeframe  # the end of the exit candle
    # Realised: from each trade's close on.
    order = np.argsort(closed.asi8)
    realised = np.cumsum(trades["profit_abs"].to_numpy(dtype=float)[order])
    done = np.searchsorted(closed.asi8[order], times.asi8, side="right")
    balance += np.where(done > 0, realised[np.maximum(done - 1, 0)], 0.0)
    # Unrealised: while open, at each candle close.
    for pair, rows in trades.groupby("pair", sort=False).groups.items():
        prices = closes.get(str(pair))
        if prices is None or prices.empty:
            continue
        at_close = pd.Series(prices.to_numpy(dtype=float), index=_utc(prices.index) + span.timeframe)
        at_close = at_close.reindex(times, method="ffill")
        for i in np.asarray(rows):
            j = trades.index.get_loc(i)
            inside = (times > opened[j]) & (times < closed[j])  # candle closes while held
            if not inside.any():
                continue
            sign = -1.0 if bool(trades["is_short"].iloc[j]) else 1.0
            move = at_close.to_numpy()[inside] - float(trades["open_rate"].iloc[j])
            balance[inside] += np.nan_to_num(sign * float(trades["amount"].iloc[j]) * move)
    return pd.Series(balance, index=times, name=BALANCE)


def buy_and_hold(closes: Mapping[str, pd.Series], opens: Mapping[str, pd.Series], span: Span) -> pd.Series:
    """Return the equal-weight buy-and-hold balance at each candle close of ``span``."""
    times = span.closes()
    held = [p for p in closes if not closes[p].empty]
    if not held:
        raise ValueError("buy-and-hold needs candles of at least one pair in the span")
    share = float(span.wallet) / len(held)
    balance = np.zeros(len(times))
    for pair in held:
        first_open = float(opens[pair].iloc[0])
        at_close = pd.Series(closes[pair].to_numpy(dtype=float), index=_utc(closes[pair].index) + span.timeframe)
        # Before the pair's first candle closes its value is its cost; a gap keeps the last close.
        value = at_close.reindex(times, method="ffill").fillna(first_open).to_numpy()
        balance += share * value / first_open
    return pd.Series(balance, index=times, name=BALANCE)


def exposure(trades: pd.DataFrame, span: Span) -> float:
    """Return the share (0..1) of ``span`` with at least one position open."""
    if trades.empty:
        return 0.0
    held_to = _utc(trades["close_date"]) + span.timeframe  # the end of the exit candle, as in mark_to_market
    intervals = sorted(
        (max(o, span.start), min(c, span.end)) for o, c in zip(_utc(trades["open_date"]), held_to, strict=True)
    )
    covered = pd.Timedelta(0)
    current_start, current_end = None, None
    for start, end in intervals:
        if end <= start:
            continue
        if current_end is None or start > current_end:
            if current_end is not None:
                covered += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        covered += current_end - current_start
    return covered / (span.end - span.start)


def profit_factor(trades: pd.DataFrame) -> float:
    """Gross profit over gross loss of closed trades (inf without a loss, NaN without trades)."""
    if trades.empty:
        return float("nan")
    profits = trades["profit_abs"].to_numpy(dtype=float)
    loss = -profits[profits < 0].sum()
    gain = profits[profits > 0].sum()
    return float(gain / loss) if loss > 0 else float("inf") if gain > 0 else float("nan")


def balance_frame(balance: pd.Series) -> pd.DataFrame:
    """The balance as Freqtrade's ``*_from_balance`` functions read it: ``date``, ``total_quote``."""
    return pd.DataFrame({"date": balance.index, BALANCE: balance.to_numpy()})


def drawdown(balance: pd.Series) -> pd.Series:
    """The drop below the running peak at each time, in % of the peak (0 or negative)."""
    peak = balance.cummax()
    return (balance / peak - 1.0) * 100.0


# Freqtrade's ratio when its denominator is 0 (a flat curve, no losing day, no drawdown): not a measurement.
_NOT_A_RATIO = -100.0


def _ratio(value: float) -> float:
    return float("nan") if value == _NOT_A_RATIO else float(value)


def metrics(balance: pd.Series, trades: pd.DataFrame | None, span: Span) -> dict[str, float]:
    """Return the comparison row for one equity curve; ``trades`` None for buy-and-hold (no trades)."""
    frame = balance_frame(balance)
    final = float(balance.iloc[-1])
    try:
        max_dd = float(calculate_max_drawdown_from_balance(frame, relative=True).relative_account_drawdown) * 100.0
    except ValueError:  # fewer than two balances
        max_dd = 0.0
    row = {
        "return_pct": (final / span.wallet - 1.0) * 100.0,
        "final_balance": final,
        "max_drawdown_pct": max_dd,
        "sharpe": _ratio(calculate_sharpe_from_balance(frame)),
        "sortino": _ratio(calculate_sortino_from_balance(frame)),
        "calmar": _ratio(calculate_calmar_from_balance(frame)),
    }
    if trades is None:
        row.update(profit_factor=float("nan"), trades=float("nan"), win_rate_pct=float("nan"), exposure_pct=100.0)
    else:
        wins = int((trades["profit_abs"] > 0).sum()) if not trades.empty else 0
        row.update(
            profit_factor=profit_factor(trades),
            trades=float(len(trades)),
            win_rate_pct=100.0 * wins / len(trades) if len(trades) else float("nan"),
            exposure_pct=100.0 * exposure(trades, span),
        )
    return row


def monthly_returns(balance: pd.Series, timeframe: pd.Timedelta) -> pd.Series:
    """Each calendar month's return in %, from the balance at the end of the month before (the start for the
    first). A balance at a candle's close counts in the month of that candle's open."""
    by_candle = pd.Series(balance.to_numpy()[1:], index=balance.index[1:] - timeframe)
    month_end = by_candle.resample("ME").last()
    previous = month_end.shift(1)
    previous.iloc[0] = balance.iloc[0]
    out = (month_end / previous - 1.0) * 100.0
    out.index = out.index.strftime("%Y-%m")
    return out
