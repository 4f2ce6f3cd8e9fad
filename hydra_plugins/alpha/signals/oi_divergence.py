"""OI_DIVERGENCE: price and open interest move in opposite directions; the move is weak, fade it.

Over the last ``lookback_bars`` candles price moved at least ``move_atr`` ATRs while open interest
moved the other way by at least ``oi_move_pct`` percent (the last hour's change):

* price up, open interest down: the rally is shorts covering, not new buyers; go short;
* price down, open interest up: late shorts pile into the fall and are the next squeeze's fuel; go long.

* confidence: 0.5, +0.1 per ATR of move beyond ``move_atr`` and +0.1 per ``oi_move_pct`` of open
  interest change beyond the threshold, capped at 1
* expected risk / return: ``stop_atr`` ATRs, ``reward_risk`` times that
* invalidation: open interest turns to follow price (a short's thesis ends when open interest rises
  with price again, a long's when it falls with price)
* health: how far the candle is from open interest following price, each axis in units of its
  entry threshold: for a short the larger of the open-interest fall (``-oi / oi_move_pct``) and the
  price fall over the lookback (``-move / move_atr``), for a long the larger of the open-interest
  rise and the price rise, clipped to [0, 1]. It is 0 where open interest and price move together
  (the invalidation) and 1 once open interest diverges by the entry threshold, so 1 on every firing
  candle, or once price has fully reversed the move the trade fades. NaN without open interest.
* proxy: none. Without open interest (most of history: Binance serves 30 days, its archive is the
  long record) the signal is off rather than guessing from volume: it never fires on a candle whose
  open interest is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hydra_plugins.alpha.signals.base import Param, Signal, SignalOutput, sided, stop_and_target
from hydra_plugins.core import columns as col
from hydra_plugins.stats.regime import Regime


class OIDivergence(Signal):
    """Fade a price move that open interest does not confirm."""

    name = "OI_DIVERGENCE"
    requires = ("close", col.OI_DELTA_PCT_1H, col.ATR_PCT)
    params = {
        "lookback_bars": Param(8, 4, 32),
        "move_atr": Param(2.0, 1.0, 6.0, decimals=1),
        "oi_move_pct": Param(0.5, 0.1, 3.0, decimals=1),
        "stop_atr": Param(2.0, 1.0, 5.0, decimals=1),
        "reward_risk": Param(1.5, 1.0, 4.0, decimals=1),
    }
    regime_fit = {
        Regime.RANGING: 1.0,
        Regime.SQUEEZE_LONG: 0.8,
        Regime.SQUEEZE_SHORT: 0.8,
        Regime.TRENDING_UP: 0.7,
        Regime.TRENDING_DOWN: 0.7,
        Regime.HIGH_VOLATILITY: 0.6,
        Regime.CASCADE_RISK: 0.0,
    }

    def _compute(self, frame: pd.DataFrame, p: Mapping[str, float]) -> SignalOutput:
        close = frame["close"]
        atr_price = frame[col.ATR_PCT] / 100.0 * close
        move_atr = (close - close.shift(int(p["lookback_bars"]))) / atr_price
        oi = frame[col.OI_DELTA_PCT_1H].astype(float)  # all-unknown stretches can arrive as object dtype
        direction = sided(
            (move_atr <= -p["move_atr"]) & (oi >= p["oi_move_pct"]),
            (move_atr >= p["move_atr"]) & (oi <= -p["oi_move_pct"]),
        )
        excess = (move_atr.abs() - p["move_atr"]).clip(lower=0.0) + (oi.abs() / p["oi_move_pct"] - 1.0).clip(lower=0.0)
        exp_ret, exp_risk = stop_and_target(frame[col.ATR_PCT], p["stop_atr"], p["reward_risk"])
        return SignalOutput(
            direction=direction,
            confidence=0.5 + 0.1 * excess.fillna(0.0),
            exp_ret_pct=exp_ret,
            exp_risk_pct=exp_risk,
            proxy=pd.Series(False, index=frame.index),
            invalid_long=(move_atr < 0) & (oi < 0),
            invalid_short=(move_atr > 0) & (oi > 0),
            health_long=np.maximum(oi / p["oi_move_pct"], move_atr / p["move_atr"]),
            health_short=np.maximum(-oi / p["oi_move_pct"], -move_atr / p["move_atr"]),
        )
