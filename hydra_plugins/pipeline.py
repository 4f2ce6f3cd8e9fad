"""HYDRA's pipeline for one pair: L1 intel -> L2 statistics -> L3 alpha -> entries, plus L4's decisions.

Knows nothing of Freqtrade's objects: it takes dataframes, config models and plain numbers, so the
same code runs in backtests, live and in tests. ``bridge.py`` adapts it to Freqtrade's callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hydra_plugins.alpha.select import select_best
from hydra_plugins.alpha.signals import build_signals
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import HydraConfig
from hydra_plugins.intel.features import IntelInputs, open_interest_columns, store_columns
from hydra_plugins.intel.funding import funding_columns
from hydra_plugins.intel.health import health_columns
from hydra_plugins.intel.liquidations import liquidation_columns
from hydra_plugins.risk.leverage import pair_leverage
from hydra_plugins.risk.sizing import StakeDecision, risk_stake
from hydra_plugins.stats.regime import Gate, gate_columns, regime_column
from hydra_plugins.stats.volatility import volatility_columns

# Candles of history every pair needs before its first signal: covers the longest default window
# (96 + 672 bars of volatility baseline) with room to spare. The strategy declares this number.
STARTUP_CANDLES = 800


@dataclass(frozen=True)
class EntryVerdict:
    """Whether the newest candle still allows an entry, and why not."""

    allowed: bool
    reason: str


class Pipeline:
    """L1..L4 for one timeframe, configured once from the ``hydra`` section."""

    def __init__(self, cfg: HydraConfig, timeframe_minutes: int, *, live: bool = False) -> None:
        self.cfg = cfg
        self.timeframe = pd.Timedelta(minutes=timeframe_minutes)
        self.live = live
        self.signals = build_signals(cfg.alpha.signals)

    @property
    def warmup_candles(self) -> int:
        """Candles needed before every column is exact (what ``startup_candle_count`` must cover)."""
        s = self.cfg.stats
        return max(s.sma_slow_bars, s.rv_window_bars + s.rv_baseline_bars, 10 * s.atr_period)

    # populate_indicators
    def populate(self, candles: pd.DataFrame, inputs: IntelInputs) -> pd.DataFrame:
        """Return ``candles`` with every HYDRA column added (L1, L2, L3)."""
        lag = pd.Timedelta(minutes=self.cfg.intel.funding_publish_lag_minutes)
        intel = pd.concat(
            [
                funding_columns(candles, inputs.funding, self.timeframe, lag, self.cfg.intel.funding_z_settlements),
                open_interest_columns(candles, inputs, self.timeframe, self.cfg.intel.max_age_minutes),
                store_columns(candles, inputs, self.timeframe, self.cfg.intel.max_age_minutes),
            ],
            axis=1,
        )
        liquidations = liquidation_columns(
            candles,
            inputs.series.get("liquidation"),
            inputs.series.get("stream_heartbeat"),
            intel[col.OI_DELTA_PCT_1H],
            self.timeframe,
        )
        intel = pd.concat([intel, liquidations], axis=1)
        health = health_columns(candles, intel, self.cfg.intel, live=self.live)
        stats = volatility_columns(candles, self.cfg.stats)
        frame = pd.concat([candles, intel, health, stats], axis=1)
        frame[col.REGIME] = regime_column(frame, self.cfg.stats)
        frame = pd.concat([frame, gate_columns(frame, self.cfg.stats)], axis=1)
        signal_frames = [sig.generate(frame) for sig in self.signals]
        frame = pd.concat([frame, *signal_frames], axis=1)
        best = select_best(frame, self.signals, self.cfg.alpha.min_signal_confidence)
        return pd.concat([frame, best], axis=1)

    # populate_entry_trend
    def entry_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return ``enter_long``, ``enter_short`` and ``enter_tag`` where every layer approves."""
        approved = frame[col.HEALTH_OK].astype(bool) & (frame[col.GATE] != Gate.BLOCK)
        long_ = approved & (frame[col.DIRECTION] == 1)
        short = approved & (frame[col.DIRECTION] == -1)
        tag = np.where(long_ | short, frame[col.SIGNAL], None)
        return pd.DataFrame(
            {"enter_long": long_.astype(int), "enter_short": short.astype(int), "enter_tag": tag},
            index=frame.index,
        )

    # confirm_trade_entry
    def verdict(self, row: Mapping[str, Any], side: str, entry_tag: str | None) -> EntryVerdict:
        """Re-check the signal candle's gates just before an order is placed."""
        if not bool(row.get(col.HEALTH_OK, False)):
            return EntryVerdict(False, f"data health: {row.get(col.HEALTH_REASON) or 'unknown'}")
        if row.get(col.GATE) == Gate.BLOCK:
            return EntryVerdict(False, f"L2 gate BLOCK: {row.get(col.GATE_REASON)}")
        expected = 1 if side == "long" else -1
        if row.get(col.DIRECTION) != expected or row.get(col.SIGNAL) != entry_tag:
            return EntryVerdict(False, f"no {side} {entry_tag} signal on the newest candle")
        return EntryVerdict(True, "")

    # leverage
    def leverage(self, pair: str, row: Mapping[str, Any], exchange_max: float) -> float:
        """Return the leverage for a new position on ``pair`` from its signal candle."""
        return pair_leverage(self.cfg.asset(pair), self.cfg.risk, exchange_max, _finite(row.get(col.STOP_PCT)))

    # custom_stake_amount
    def stake(
        self,
        pair: str,
        row: Mapping[str, Any],
        *,
        equity: float,
        leverage: float,
        open_exposure_usd: float,
        open_positions: int,
        min_stake: float | None,
        max_stake: float,
    ) -> StakeDecision:
        """Return the collateral to commit (0 = refuse) for a new position on ``pair``."""
        stop = _finite(row.get(col.STOP_PCT))
        return risk_stake(
            equity=equity,
            stop_pct=stop if stop is not None else float("nan"),
            leverage=leverage,
            size_mult=self.cfg.asset(pair).size_multiplier,
            gate_mult=float(row.get(col.GATE_SIZE_MULT, 0.0)),
            open_exposure_usd=open_exposure_usd,
            open_positions=open_positions,
            min_stake=min_stake,
            max_stake=max_stake,
            cfg=self.cfg.risk,
        )


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
