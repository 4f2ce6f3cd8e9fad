"""HYDRA's pipeline for one pair: L1 intel -> L2 statistics -> L3 alpha -> entries, plus L4's decisions.

Knows nothing of Freqtrade's objects: it takes dataframes, config models and plain numbers, so the
same code runs in backtests, live and in tests. ``bridge.py`` adapts it to Freqtrade's callbacks.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hydra_plugins.alpha.features import market_features, signal_features
from hydra_plugins.alpha.scorer import SignalScorer
from hydra_plugins.alpha.select import select_best
from hydra_plugins.alpha.signals import Signal, build_signals
from hydra_plugins.core import columns as col
from hydra_plugins.core.artifacts import ModelSlot, card_path
from hydra_plugins.core.config import HydraConfig, ModelConfig
from hydra_plugins.core.numbers import finite
from hydra_plugins.intel.features import IntelInputs, open_interest_columns, store_columns
from hydra_plugins.intel.funding import funding_columns
from hydra_plugins.intel.health import health_columns
from hydra_plugins.intel.liquidations import liquidation_columns
from hydra_plugins.risk.correlation import OpenLeg, correlation_multiplier
from hydra_plugins.risk.exits import thesis_reason
from hydra_plugins.risk.kill_switch import regime_break
from hydra_plugins.risk.leverage import pair_leverage
from hydra_plugins.risk.sizing import StakeDecision, risk_stake
from hydra_plugins.stats.cascade import CALIBRATION_PATH, CascadeModel, cascade_features
from hydra_plugins.stats.opponent import opponent_columns
from hydra_plugins.stats.regime import Gate, against_columns, gate_columns, regime_column
from hydra_plugins.stats.regime_model import CLASSES, RegimeModel, regime_features
from hydra_plugins.stats.volatility import volatility_columns

# Candles of history every pair needs before its first signal: covers the longest default window
# (96 + 1344 bars of volatility regime) with room to spare. The strategy declares this number.
# Freqtrade accepts at most 5 x 499 = 2494 on Binance 15m.
STARTUP_CANDLES = 1600
OPERATOR = "hydra_operator_entry"  # marks a row seen as an operator entry (see HydraPipeline.operator_row)


class ModelUse:
    """One model as the config asks for it: the slot holding the verified file, and whether it is in use."""

    def __init__(self, name: str, cfg: ModelConfig, load: Any) -> None:
        self.name = name
        self.cfg = cfg
        self.path = Path(cfg.path)
        self.slot: ModelSlot | None = None if cfg.enabled is False else ModelSlot(self.path, load)

    def _absent(self) -> bool:
        """Auto mode with neither the model nor its card on disk: run without it (a first training may add it)."""
        return self.cfg.enabled is None and not (self.path.exists() or card_path(self.path).exists())

    @property
    def active(self) -> Any:
        """The model to use now, or None."""
        model = self.slot.model if self.slot is not None else None
        if model is None or (self.cfg.enabled is None and not model.recommended):
            return None
        return model

    @property
    def blocking(self) -> str | None:
        """Why new entries must stop because of this model, or None."""
        if self.slot is None or self.slot.model is not None or self._absent():
            return None
        return f"{self.name} {self.path}: {self.slot.error}"

    def status(self) -> str:
        """One line for the log and the user: what is in use and why."""
        if self.slot is None:
            return f"{self.name}: off (config)"
        model = self.slot.model
        if model is None:
            if self._absent():
                return f"{self.name}: no model at {self.path}; running without it"
            return f"{self.name}: NOT LOADED, new entries stop: {self.slot.error}"
        card = model.card
        what = f"{self.path} sha256 {str(card.get('sha256'))[:12]} trained {card.get('training', {}).get('span')}"
        # A newer file on disk failed its checks: the verified model stays in use until a good one arrives.
        refused = f"; the file now on disk was refused: {self.slot.rejected}" if self.slot.rejected else ""
        if self.active is None:
            return f"{self.name}: verified but not used, its card does not recommend it ({what}){refused}"
        return f"{self.name}: in use ({what}){refused}"


@dataclass(frozen=True)
class EntryVerdict:
    """Whether the newest candle still allows an entry, and why not."""

    allowed: bool
    reason: str
    code: str = ""  # a refusal's short, stable name (counted in the risk journal)


class Pipeline:
    """L1..L4 for one timeframe, configured once from the ``hydra`` section."""

    def __init__(self, cfg: HydraConfig, timeframe_minutes: int, *, live: bool = False) -> None:
        self.cfg = cfg
        self.timeframe = pd.Timedelta(minutes=timeframe_minutes)
        self.live = live
        self.signals = build_signals(cfg.alpha.signals)
        self.scorer: ModelUse | None = None
        self.regime_model: ModelUse | None = None

    # bot_start and every new candle
    def model_statuses(self) -> list[str]:
        """One line per model: in use, unused and why, or stopping entries and why."""
        return [use.status() for use in (self.scorer, self.regime_model) if use is not None]

    def load_models(self) -> None:
        """Open the signal scorer and the regime model the config asks for, and load them."""
        self.scorer = ModelUse("signal scorer", self.cfg.alpha.scorer, SignalScorer.load)
        self.regime_model = ModelUse("regime model", self.cfg.stats.regime_model, RegimeModel.load)
        self.refresh_models()

    def refresh_models(self) -> list[str]:
        """Swap in model files rewritten since the last call (after their checks); return the new statuses."""
        changed = []
        for use in (self.scorer, self.regime_model):
            if use is not None and use.slot is not None:
                before = (use.slot.model, use.slot.error, use.slot.rejected)
                use.slot.refresh()
                if (use.slot.model, use.slot.error, use.slot.rejected) != before:
                    changed.append(use.status())
        return changed

    @property
    def model_block(self) -> str | None:
        """Why no new entry may open because of a model that failed its checks, or None."""
        for use in (self.scorer, self.regime_model):
            if use is not None and use.blocking:
                return use.blocking
        return None

    @functools.cached_property
    def cascade(self) -> CascadeModel:
        """The cascade-probability calibration (raises ModelArtifactError when unusable)."""
        path = self.cfg.stats.cascade_calibration
        return CascadeModel.load(CALIBRATION_PATH if path is None else Path(path))

    @property
    def warmup_candles(self) -> int:
        """Candles needed before every column is exact (what ``startup_candle_count`` must cover)."""
        s = self.cfg.stats
        return max(
            s.sma_slow_bars + 24 * 4,
            s.rv_window_bars + max(s.rv_baseline_bars, s.vol_pctile_bars),
            10 * s.atr_period,
            s.opponent.window_bars + 96,
        )

    # populate_indicators
    def populate(self, candles: pd.DataFrame, inputs: IntelInputs) -> pd.DataFrame:
        """Return ``candles`` with the L1 and L2 columns added (what populate_indicators returns)."""
        return self.assess(self.market_state(candles, inputs))

    def market_state(self, candles: pd.DataFrame, inputs: IntelInputs) -> pd.DataFrame:
        """Return ``candles`` with L1 intel, data health, volatility and the opponent model."""
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
        opponent = opponent_columns(candles, intel[col.OI_VALUE_USD], self.cfg.stats.opponent)
        return pd.concat([candles, intel, health, stats, opponent], axis=1)

    def assess(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Add the cascade probability, the regime and the L2 gate to a :meth:`market_state` frame."""
        prob = self.cascade.predict(cascade_features(frame)).where(frame[col.RV_RATIO].notna())
        frame = frame.assign(**{col.CASCADE_PROB: prob})
        rules = regime_column(frame, self.cfg.stats)
        frame[col.REGIME_RULES] = rules
        probs = self._regime_probabilities(frame)
        values = probs.to_numpy()
        known = ~np.isnan(values).any(axis=1)
        likeliest = np.asarray(CLASSES, dtype=object)[np.argmax(np.nan_to_num(values, nan=-1.0), axis=1)]
        frame[col.REGIME] = np.where(known, likeliest, rules.to_numpy(dtype=object))
        against = against_columns(frame, self.cfg.stats)
        return pd.concat([frame, probs, against, gate_columns(frame, self.cfg.stats)], axis=1)

    def _regime_probabilities(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The regime model's class probabilities where its inputs are known (NaN without a model in use)."""
        names = [col.regime_prob_column(c) for c in CLASSES]
        model = self.regime_model.active if self.regime_model is not None else None
        out = pd.DataFrame(np.nan, index=frame.index, columns=names)
        rows = frame[col.RV_RATIO].notna().to_numpy() & frame[col.VOL_PCTILE].notna().to_numpy()
        if model is not None and rows.any():
            # Features on the whole frame, then the rows: their trailing windows need the rows before.
            features = regime_features(frame, self.timeframe).loc[rows]
            try:
                out.loc[rows, names] = model.predict(features).to_numpy()
            except Exception as exc:  # the rules decide; new entries stop until a good file arrives
                self.regime_model.slot.fail(f"prediction failed: {exc!r}")
                out.loc[:, names] = np.nan
        return out

    # populate_entry_trend (thresholds are hyperopt parameters, so signals run once per epoch)
    def alpha(self, frame: pd.DataFrame, overrides: Mapping[str, float] | None = None) -> pd.DataFrame:
        """Return ``frame`` with every enabled signal's columns and the winner's (L3).

        ``overrides`` are the strategy's hyperopt parameter values by name; absent ones take the
        signals' defaults.
        """
        signal_frames = [sig.generate(frame, overrides) for sig in self.signals]
        frame = pd.concat([frame.drop(columns=self._alpha_columns(), errors="ignore"), *signal_frames], axis=1)
        scores = self._ml_scores(frame)
        best = select_best(
            frame,
            self.signals,
            self.cfg.alpha.min_signal_confidence,
            ml_scores=scores,
            ml_threshold=self.cfg.alpha.ml_threshold,
        )
        score_columns = pd.DataFrame(
            {col.signal_score_column(name): values for name, values in (scores or {}).items()}, index=frame.index
        )
        return pd.concat([frame, score_columns, best], axis=1)

    def _ml_scores(self, frame: pd.DataFrame) -> dict[str, np.ndarray] | None:
        """The scorer's P(profitable) for each signal on the candles where it fires (None: no scorer in use)."""
        scorer = self.scorer.active if self.scorer is not None else None
        if scorer is None:
            return None
        firing = {s.name: frame[col.signal_column(s.name, "dir")].to_numpy() != 0 for s in self.signals}
        any_firing = np.logical_or.reduce(list(firing.values())) if firing else np.zeros(len(frame), dtype=bool)
        market = market_features(frame, self.timeframe).loc[any_firing]
        scores = {}
        for sig in self.signals:
            values = np.full(len(frame), np.nan)
            rows = firing[sig.name]
            if rows.any():
                sub = frame.loc[rows]
                try:
                    values[rows] = scorer.predict(signal_features(sub, sig, market.loc[sub.index]))
                except Exception as exc:  # unscored signals do not trade; new entries stop with the reason
                    self.scorer.slot.fail(f"prediction failed: {exc!r}")
            scores[sig.name] = values
        return scores

    def _alpha_columns(self) -> list[str]:
        produced = [c for sig in self.signals for c in [*sig.output_columns(), col.signal_score_column(sig.name)]]
        return [
            *produced,
            col.SIGNAL,
            col.DIRECTION,
            col.CONFIDENCE,
            col.SCORE,
            col.STOP_PCT,
            col.TARGET_PCT,
            col.ML_SCORE,
        ]

    def signal(self, name: str | None) -> Signal | None:
        """Return the enabled signal called ``name`` (an ``enter_tag``), or None."""
        return next((s for s in self.signals if s.name == name), None)

    # populate_entry_trend
    def entry_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return ``enter_long``, ``enter_short`` and ``enter_tag`` where every layer approves."""
        approved = frame[col.HEALTH_OK].astype(bool) & (frame[col.GATE] != Gate.BLOCK) & (self.model_block is None)
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
        if self.model_block is not None:
            return EntryVerdict(False, f"model check failed: {self.model_block}", "model_check")
        if not bool(row.get(col.HEALTH_OK, False)):
            return EntryVerdict(False, f"data health: {row.get(col.HEALTH_REASON) or 'unknown'}", "data_health")
        if row.get(col.GATE) == Gate.BLOCK:
            return EntryVerdict(False, f"L2 gate BLOCK: {row.get(col.GATE_REASON)}", "gate_block")
        expected = 1 if side == "long" else -1
        if self.is_operator_entry(entry_tag):
            return EntryVerdict(True, "", "")
        if row.get(col.DIRECTION) != expected or row.get(col.SIGNAL) != entry_tag:
            return EntryVerdict(False, f"no {side} {entry_tag} signal on the newest candle", "signal_gone")
        return EntryVerdict(True, "", "")

    # operator entries
    def is_operator_entry(self, entry_tag: str | None) -> bool:
        """An entry an operator forced (FreqUI, Telegram, REST) under no enabled signal's name."""
        return self.signal(entry_tag) is None

    def operator_row(self, row: Mapping[str, Any], side: str) -> dict[str, Any]:
        """``row`` as an operator entry sees it: the ATR stop and take-profit, no signal's odds or score.

        Sizing then risks the fixed share per trade (no Kelly: no signal claims an edge), and every gate,
        cap and multiplier applies as to a signal's entry.
        """
        atr = finite(row.get(col.ATR_PCT))
        stop = self.cfg.risk.operator_stop_atr * atr if atr is not None and atr > 0 else float("nan")
        return {
            **row, col.STOP_PCT: stop, col.TARGET_PCT: stop * self.cfg.risk.operator_reward_risk,
            col.DIRECTION: 1 if side == "long" else -1, col.ML_SCORE: None, col.CONFIDENCE: None,
            OPERATOR: True,
        }  # fmt: skip

    # custom_exit
    def thesis_broken(self, row: Mapping[str, Any], entry_tag: str | None, is_short: bool) -> str | None:
        """Return the thesis-health exit reason when the trade's signal says its thesis no longer holds.

        ``row`` is the newest closed candle; the signal's ``inv_long`` / ``inv_short`` column decides.
        A signal not enabled (or a candle without its columns) says nothing.
        """
        signal = self.signal(entry_tag)
        if signal is None:
            return None
        invalid = row.get(col.signal_column(signal.name, "inv_short" if is_short else "inv_long"))
        return thesis_reason(signal.name) if invalid is True or invalid == 1 else None

    def thesis_health(self, row: Mapping[str, Any], entry_tag: str | None, is_short: bool) -> float | None:
        """How much of the trade's signal's thesis holds on ``row`` (0..1; None when unknown or not enabled)."""
        signal = self.signal(entry_tag)
        if signal is None:
            return None
        return finite(row.get(col.signal_column(signal.name, "health_short" if is_short else "health_long")))

    # kill switches
    def kill_inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        """What the candle-based kill switches read of each candle, indexed by the candle's close time."""
        nan = pd.Series(np.nan, index=frame.index)
        out = pd.DataFrame(
            {
                "close": frame["close"],
                "funding_rate": frame.get(col.FUNDING_RATE, nan),
                "predicted_funding": frame.get(col.PREDICTED_FUNDING, nan),
                "cascade_prob": frame.get(col.CASCADE_PROB, nan),
            }
        )
        out.index = pd.DatetimeIndex(frame["date"] + self.timeframe)
        return out

    def vol_extreme(self, row: Mapping[str, Any]) -> bool | None:
        """Whether volatility is extreme on ``row``: in the top of its 14-day range or far above normal."""
        pctile, ratio = finite(row.get(col.VOL_PCTILE)), finite(row.get(col.RV_RATIO))
        if pctile is None and ratio is None:
            return None
        return bool(
            (pctile is not None and pctile >= self.cfg.risk.kill_switches.regime_break_vol_pctile)
            or (ratio is not None and ratio >= self.cfg.stats.block_vol_ratio)
        )

    def regime_against(self, row: Mapping[str, Any], is_short: bool) -> bool | None:
        """Whether a regime against a ``is_short`` position holds on ``row`` (None when unknown)."""
        value = row.get(col.REGIME_AGAINST_SHORT if is_short else col.REGIME_AGAINST_LONG)
        return None if value is None or pd.isna(value) else bool(value)

    def regime_break(self, row: Mapping[str, Any], was_clear: bool | None, is_short: bool) -> str | None:
        """The regime-break kill switch's reason for an open position on the newest closed candle ``row``."""
        if not self.cfg.risk.kill_switches.armed("regime_break"):
            return None
        regime = row.get(col.REGIME)
        side = "short" if is_short else "long"
        against = self.regime_against(row, is_short)
        label = None if regime is None else str(regime)
        return regime_break(side, against, was_clear, self.vol_extreme(row), label)

    # leverage
    def leverage(self, pair: str, row: Mapping[str, Any], exchange_max: float) -> float:
        """Return the leverage for a new position on ``pair`` from its signal candle."""
        return pair_leverage(
            self.cfg.asset(pair),
            self.cfg.risk,
            exchange_max,
            finite(row.get(col.STOP_PCT)),
            vol_ratio=finite(row.get(col.RV_RATIO)),
        )

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
        closes: pd.Series | None = None,
        open_legs: Sequence[OpenLeg] = (),
    ) -> StakeDecision:
        """Return the collateral to commit (0 = refuse) for a new position on ``pair``.

        P(profitable) is the scorer's score on the signal candle when it was scored, else the
        signal's confidence; the reward/risk is its take-profit (expected return) over its stop.
        ``closes`` (the pair's closes by date) and ``open_legs`` feed the correlation penalty.
        """
        stop = finite(row.get(col.STOP_PCT))
        target = finite(row.get(col.TARGET_PCT))
        score = finite(row.get(col.ML_SCORE))
        win_prob = score if score is not None else finite(row.get(col.CONFIDENCE))
        reward_risk = target / stop if target is not None and stop else float("nan")
        if row.get(OPERATOR):  # the fixed risk share: no signal's odds to size by
            win_prob, reward_risk = None, None
        direction = int(row.get(col.DIRECTION, 0) or 0)
        corr_mult, counted = 1.0, {}
        if open_legs:
            if closes is None:
                return StakeDecision(
                    0.0, 0.0, "no candles to measure the correlation with the open positions", code="correlation"
                )
            corr_mult, counted = correlation_multiplier(closes, direction, open_legs, self.cfg.risk)
        decision = risk_stake(
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
            win_prob=win_prob if win_prob is not None or row.get(OPERATOR) else float("nan"),
            reward_risk=reward_risk,
            correlation_mult=corr_mult,
        )
        if decision.stake > 0:
            source = "operator" if row.get(OPERATOR) else "scorer" if score is not None else "confidence"
            rationale = {**decision.rationale, "p_source": source}
            decision = replace(decision, rationale={**rationale, "correlations": counted})
        return decision
