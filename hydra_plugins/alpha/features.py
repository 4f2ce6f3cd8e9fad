"""The signal scorer's 49 features, built by one function for training and live alike.

Each row describes one signal on one candle, from values known at that candle's close:

=================  ==  =====================================================================
group              n   features
=================  ==  =====================================================================
signal             9   direction, confidence, source (the signal's name, a categorical
                       feature), expected return and risk (%), reward/risk, proxy flag, fit
                       with the rule regime, stop distance in ATRs
price              10  returns over 1h/4h/24h, realized volatility 1h/24h, ATR %, RSI,
                       close vs the fast/slow SMA, Bollinger width
funding            4   8h-equivalent rate, z-score, annualized, momentum
open interest      3   1h change, z-score, price divergence
liquidations       3   imbalance, last hour's volume relative to the pair's traded volume, z-score
order book         4   imbalance, spread, depth (log10 USD), depth relative to traded volume
positioning        2   long/short account ratio, taker buy/sell ratio
regime             9   rule regime (categorical), volatility percentile, volatility ratio,
                       cascade probability, ADX, fast/slow SMA slopes, L2 size multiplier,
                       distance to the liquidation cluster that would fuel the trade
time               5   hour and weekday of the candle's close (sine, cosine), minutes to funding
=================  ==  =====================================================================

A feature whose source has no value is NaN (CatBoost treats missing values natively): order-book
features before a book was recorded, open interest outside imported history, and so on. The model
card lists which features were absent or proxied in training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hydra_plugins.alpha.select import regime_fit
from hydra_plugins.alpha.signals.base import Signal
from hydra_plugins.core import columns as col
from hydra_plugins.stats.volatility import quote_volume_per_hour

SIGNAL_FEATURES = (
    "sig_direction",
    "sig_confidence",
    "sig_source",
    "sig_exp_ret_pct",
    "sig_exp_risk_pct",
    "sig_reward_risk",
    "sig_proxy",
    "sig_regime_fit",
    "sig_risk_atr",
)
PRICE_FEATURES = (
    "ret_1h_pct",
    "ret_4h_pct",
    "ret_24h_pct",
    "rv_1h_pct",
    "rv_24h_pct",
    "atr_pct",
    "rsi",
    "close_vs_sma_fast_pct",
    "close_vs_sma_slow_pct",
    "bb_width_pct",
)
FUNDING_FEATURES = ("funding_rate_8h", "funding_z", "funding_annual", "funding_momentum_8h")
OI_FEATURES = ("oi_delta_pct_1h", "oi_z", "oi_divergence")
LIQUIDATION_FEATURES = ("liq_imbalance", "liq_velocity_rel", "liq_z")
BOOK_FEATURES = ("book_imbalance", "spread_bps", "book_depth_log10_usd", "book_depth_rel")
POSITIONING_FEATURES = ("long_short_ratio", "taker_ratio")
REGIME_FEATURES = (
    "regime_rules",
    "vol_pctile",
    "rv_ratio",
    "cascade_prob",
    "adx",
    "sma_fast_slope_pct",
    "sma_slow_slope_pct",
    "gate_size_mult",
    "opp_fuel_dist_pct",
)
TIME_FEATURES = ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "minutes_to_funding")

FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "signal": SIGNAL_FEATURES,
    "price": PRICE_FEATURES,
    "funding": FUNDING_FEATURES,
    "open_interest": OI_FEATURES,
    "liquidations": LIQUIDATION_FEATURES,
    "order_book": BOOK_FEATURES,
    "positioning": POSITIONING_FEATURES,
    "regime": REGIME_FEATURES,
    "time": TIME_FEATURES,
}
SCORER_FEATURES: tuple[str, ...] = tuple(f for group in FEATURE_GROUPS.values() for f in group)
CATEGORICAL_FEATURES = ("sig_source", "regime_rules")
# Features that come from a labelled proxy where the real input is missing (see the model card).
PROXY_FLAGS = {"sig_proxy": "the signal ran on a proxy", "liq_imbalance": col.LIQ_IS_PROXY}

# Straight copies of pipeline columns.
_COPIED = {
    "rv_1h_pct": col.RV_PCT_1H,
    "rv_24h_pct": col.RV_PCT_24H,
    "atr_pct": col.ATR_PCT,
    "rsi": col.RSI,
    "close_vs_sma_fast_pct": col.CLOSE_VS_SMA_FAST_PCT,
    "close_vs_sma_slow_pct": col.CLOSE_VS_SMA_SLOW_PCT,
    "bb_width_pct": col.BB_WIDTH_PCT,
    "funding_rate_8h": col.FUNDING_RATE_8H,
    "funding_z": col.FUNDING_Z,
    "funding_annual": col.FUNDING_ANNUAL,
    "funding_momentum_8h": col.FUNDING_MOMENTUM_8H,
    "oi_delta_pct_1h": col.OI_DELTA_PCT_1H,
    "oi_z": col.OI_Z,
    "oi_divergence": col.OI_DIVERGENCE,
    "liq_imbalance": col.LIQ_IMBALANCE,
    "liq_z": col.LIQ_Z,
    "book_imbalance": col.BOOK_IMBALANCE,
    "spread_bps": col.SPREAD_BPS,
    "long_short_ratio": col.LONG_SHORT_RATIO,
    "taker_ratio": col.TAKER_RATIO,
    "vol_pctile": col.VOL_PCTILE,
    "rv_ratio": col.RV_RATIO,
    "cascade_prob": col.CASCADE_PROB,
    "adx": col.ADX,
    "sma_fast_slope_pct": col.SMA_FAST_SLOPE_PCT,
    "sma_slow_slope_pct": col.SMA_SLOW_SLOPE_PCT,
    "gate_size_mult": col.GATE_SIZE_MULT,
    "minutes_to_funding": col.MINUTES_TO_FUNDING,
}


def market_features(frame: pd.DataFrame, timeframe: pd.Timedelta) -> pd.DataFrame:
    """Return the 40 features that do not depend on the signal (everything but the signal group)."""
    close = frame["close"].astype(float)
    bars_per_hour = max(1, int(pd.Timedelta(hours=1) / timeframe))
    out = pd.DataFrame(index=frame.index)
    for hours, name in ((1, "ret_1h_pct"), (4, "ret_4h_pct"), (24, "ret_24h_pct")):
        out[name] = (close / close.shift(hours * bars_per_hour) - 1.0) * 100.0
    for name, source in _COPIED.items():
        out[name] = pd.to_numeric(frame[source], errors="coerce") if source in frame else np.nan
    quote_per_hour = quote_volume_per_hour(frame, timeframe)
    out["liq_velocity_rel"] = frame[col.LIQ_VELOCITY_USD_1H] / quote_per_hour
    depth = pd.to_numeric(frame[col.BOOK_DEPTH_USD], errors="coerce")
    out["book_depth_log10_usd"] = np.log10(depth.where(depth > 0))
    out["book_depth_rel"] = depth / quote_per_hour
    out["regime_rules"] = frame[col.REGIME_RULES].astype(str)
    closes_at = pd.DatetimeIndex(pd.to_datetime(frame["date"], utc=True)) + timeframe
    hour = (closes_at.hour + closes_at.minute / 60.0).to_numpy()
    weekday = (closes_at.day_of_week + hour / 24.0).to_numpy()
    out["hour_sin"], out["hour_cos"] = np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24)
    out["weekday_sin"], out["weekday_cos"] = np.sin(2 * np.pi * weekday / 7), np.cos(2 * np.pi * weekday / 7)
    return out


def signal_features(frame: pd.DataFrame, signal: Signal, market: pd.DataFrame) -> pd.DataFrame:
    """Return the 49 features, in :data:`SCORER_FEATURES` order, of ``signal`` on every row of ``frame``.

    ``market`` is :func:`market_features` of the same frame (computed once for all signals). Rows
    where the signal does not fire still get features; the scorer only reads the firing ones.
    """
    d, c, ret, risk, proxy = (frame[name] for name in signal.output_columns()[:5])
    direction = d.astype(float)
    atr = frame[col.ATR_PCT].replace(0.0, np.nan)
    # The cluster that would fuel the trade: shorts liquidated above a long, longs below a short.
    fuel = np.where(direction > 0, frame[col.OPP_SHORT_LIQ_DIST_PCT], frame[col.OPP_LONG_LIQ_DIST_PCT])
    sig = pd.DataFrame(
        {
            "sig_direction": direction,
            "sig_confidence": c.astype(float),
            "sig_source": signal.name,
            "sig_exp_ret_pct": ret.astype(float),
            "sig_exp_risk_pct": risk.astype(float),
            "sig_reward_risk": ret / risk.replace(0.0, np.nan),
            "sig_proxy": proxy.astype(float),
            "sig_regime_fit": regime_fit(signal, frame[col.REGIME_RULES]),
            "sig_risk_atr": risk / atr,
        },
        index=frame.index,
    )
    market = market.assign(opp_fuel_dist_pct=pd.Series(fuel, index=frame.index, dtype=float))
    return pd.concat([sig, market], axis=1)[list(SCORER_FEATURES)]
