"""Every dataframe column HYDRA writes, in one place.

Freqtrade's own columns (``date``, OHLCV, ``enter_long``, ``enter_tag`` …) are not repeated here.
"""

PREFIX = "hydra_"

# L1 market intel
FUNDING_RATE = "hydra_funding_rate"  # last settled rate, per settlement interval
FUNDING_INTERVAL_H = "hydra_funding_interval_h"  # hours between the last two settlements
FUNDING_RATE_8H = "hydra_funding_rate_8h"  # last settled rate scaled to an 8h interval
FUNDING_AGE_H = "hydra_funding_age_h"  # hours since that rate became known, at candle close
FUNDING_Z = "hydra_funding_z"  # z-score of funding_rate_8h over the trailing settlements
FUNDING_ANNUAL = "hydra_funding_annual"  # funding_rate_8h x 3 x 365 (fraction per year)
FUNDING_MOMENTUM_8H = "hydra_funding_momentum_8h"  # funding_rate_8h change over the last 3 settlements
MINUTES_TO_FUNDING = "hydra_minutes_to_funding"  # until the next scheduled settlement, at candle close
OI_VALUE_USD = "hydra_oi_value_usd"  # open interest in USDT, newest known at candle close
OI_DELTA_PCT_1H = "hydra_oi_delta_pct_1h"  # change of open interest over the last hour, percent
OI_Z = "hydra_oi_z"  # z-score of open interest over the trailing day
OI_DIVERGENCE = "hydra_oi_divergence"  # +1 weak up-move (price up, OI down), -1 weak down-move, else 0
OI_AGE_MIN = "hydra_oi_age_min"
LONG_SHORT_RATIO = "hydra_long_short_ratio"  # all accounts
TOP_POSITION_RATIO = "hydra_top_position_ratio"  # top traders, by position
TAKER_RATIO = "hydra_taker_ratio"  # taker buy / sell volume
RATIOS_AGE_MIN = "hydra_ratios_age_min"
PREDICTED_FUNDING = "hydra_predicted_funding_rate"  # live premiumIndex: the next settlement's rate
BASIS_BPS = "hydra_basis_bps"  # (mark - index) / index, basis points
PREMIUM_AGE_MIN = "hydra_premium_age_min"
BOOK_IMBALANCE = "hydra_book_imbalance"  # (bid - ask) / (bid + ask) over the top levels
SPREAD_BPS = "hydra_spread_bps"
BOOK_DEPTH_USD = "hydra_book_depth_usd"  # bid + ask notional within the configured band
BOOK_AGE_MIN = "hydra_book_age_min"
LIQ_LONG_USD = "hydra_liq_long_usd"  # longs liquidated during the candle (recorded: a lower bound)
LIQ_SHORT_USD = "hydra_liq_short_usd"
LIQ_IMBALANCE = "hydra_liq_imbalance"  # (long - short) / (long + short), 0 when none
LIQ_VELOCITY_USD_1H = "hydra_liq_velocity_usd_1h"  # both sides over the last hour
LIQ_Z = "hydra_liq_z"  # z-score of per-candle liquidations over the trailing day (NaN across a source change)
LIQ_IS_PROXY = "hydra_liq_is_proxy"  # True: estimated from candles and open interest, not recorded
HEALTH_OK = "hydra_health_ok"
HEALTH_REASON = "hydra_health_reason"

# L2 statistical reality
LOG_RETURN = "hydra_log_return"
RV_PCT_1H = "hydra_rv_pct_1h"  # std of log returns over the last hour, in percent per bar
RV_PCT_4H = "hydra_rv_pct_4h"
RV_PCT_24H = "hydra_rv_pct_24h"  # std of 15m log returns over 24h, in percent per bar
RV_PCT_7D = "hydra_rv_pct_7d"
VOL_PCTILE = "hydra_vol_pctile"  # trailing percentile (0..1) of rv_24h within the last 14 days
BB_WIDTH_PCT = "hydra_bb_width_pct"  # Bollinger band width (upper - lower) / middle, percent
RV_RATIO = "hydra_rv_ratio"  # rv_24h / trailing median of rv_24h
ATR_PCT = "hydra_atr_pct"  # ATR / close, in percent
SMA_FAST = "hydra_sma_fast"
SMA_SLOW = "hydra_sma_slow"
ADX = "hydra_adx"
SMA_FAST_SLOPE_PCT = "hydra_sma_fast_slope_pct"  # change of the fast SMA over the last 4h, percent
SMA_SLOW_SLOPE_PCT = "hydra_sma_slow_slope_pct"  # change of the slow SMA over the last 24h, percent
CLOSE_VS_SMA_FAST_PCT = "hydra_close_vs_sma_fast_pct"  # close / fast SMA - 1, percent
CLOSE_VS_SMA_SLOW_PCT = "hydra_close_vs_sma_slow_pct"
SHOCK_ATR = "hydra_shock_atr"  # largest close-to-close move of the last hour, in ATRs
RSI = "hydra_rsi"  # TA-Lib RSI over atr_period candles
VOLUME_Z = "hydra_volume_z"  # z-score of the candle's volume over the trailing day
CANDLE_FLOW = "hydra_candle_flow"  # volume-weighted close location over 4h, -1..1: a CVD-momentum proxy
# Opponent model: where other traders' leveraged positions would be liquidated (stats/opponent.py)
OPP_LONG_LIQ_DIST_PCT = "hydra_opp_long_liq_dist_pct"  # close down to the largest long-liquidation cluster, %
OPP_LONG_LIQ_USD = "hydra_opp_long_liq_usd"  # that cluster's size
OPP_SHORT_LIQ_DIST_PCT = "hydra_opp_short_liq_dist_pct"  # close up to the largest short-liquidation cluster, %
OPP_SHORT_LIQ_USD = "hydra_opp_short_liq_usd"
OPP_LONG_NEAR_SHARE = "hydra_opp_long_near_share"  # share of live long positions liquidated within near_pct
OPP_SHORT_NEAR_SHARE = "hydra_opp_short_near_share"
OPP_PROXY_SHARE = "hydra_opp_proxy_share"  # share of the modelled positions estimated from volume, not OI
CASCADE_PROB = "hydra_cascade_prob"  # P(liquidation cascade under way or within the horizon), calibrated
REGIME_RULES = "hydra_regime_rules"  # the rule-based regime (stats/regime.py), always computed
REGIME = "hydra_regime"  # the regime L2 uses: the regime model's most likely class, else the rules'
REGIME_AGAINST_LONG = "hydra_regime_against_long"  # a regime against longs holds (stats/regime.py AGAINST)
REGIME_AGAINST_SHORT = "hydra_regime_against_short"
GATE = "hydra_gate"  # ALLOW / REDUCE / BLOCK
GATE_REASON = "hydra_gate_reason"
GATE_SIZE_MULT = "hydra_gate_size_mult"

# L3 alpha: per-signal columns are built by signal_column(); the winner's columns below
SIGNAL = "hydra_signal"  # winning signal name, "" when none
DIRECTION = "hydra_direction"  # +1 long, -1 short, 0 none
CONFIDENCE = "hydra_confidence"
SCORE = "hydra_score"  # confidence x regime agreement
STOP_PCT = "hydra_stop_pct"  # stop distance from entry, in percent of price
TARGET_PCT = "hydra_target_pct"  # take-profit distance from entry, in percent of price
ML_SCORE = "hydra_ml_score"  # the winner's P(profitable) from the signal scorer, NaN without one

# Each signal's columns, described in alpha/signals/base.py: direction, confidence, expected return and
# risk, proxy flag, and per side the thesis invalidation (bool) and thesis health (0..1, NaN unknown).
# New fields go at the end: readers (alpha/select.py, alpha/features.py, training) take the first ones by position.
SIGNAL_FIELDS = (
    "dir", "conf", "exp_ret_pct", "exp_risk_pct", "proxy", "inv_long", "inv_short", "health_long", "health_short",
)  # fmt: skip


def signal_column(signal_name: str, field: str) -> str:
    """Return the column a signal writes for one of its SIGNAL_FIELDS."""
    if field not in SIGNAL_FIELDS:
        raise ValueError(f"unknown signal field {field!r}; expected one of {SIGNAL_FIELDS}")
    return f"{PREFIX}sig_{signal_name.lower()}_{field}"


def signal_score_column(signal_name: str) -> str:
    """Return the column holding the signal scorer's P(profitable) for a signal's firing candles."""
    return f"{PREFIX}sig_{signal_name.lower()}_ml_score"


def regime_prob_column(regime: str) -> str:
    """Return the column holding the regime model's probability of ``regime``."""
    return f"{PREFIX}regime_p_{regime.lower()}"
