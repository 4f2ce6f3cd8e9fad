"""The two models' training rows, built by the same pipeline the strategy runs.

Signal scorer: one row per candle on which a signal would trade (its confidence x its fit with the
rule regime x its weight reaches ``hydra.alpha.min_signal_confidence``, the selection rule), for all
five signals whether enabled or not. Features: :func:`hydra_plugins.alpha.features.signal_features`
on that candle. Label: whether the trade, entered at the next candle's open and closed by HYDRA's
exits (the signal's ATR stop, its take-profit where it uses one, and its time limit), made money
after fees and funding (:func:`hydra_plugins.training.labels.trade_outcomes`).

Regime classifier: one row every ``step_bars`` candles where the volatility baseline is known.
Features: :func:`hydra_plugins.stats.regime_model.regime_features`. Label: the most frequent rule
regime over the next ``horizon_bars`` candles (:func:`hydra_plugins.training.labels.future_regime`).

Both are computed on each pair's whole history (warm-up included) and cut to the requested span
afterwards, so every feature is what the strategy would have seen. Rows whose label reaches past
the data are dropped. Each row carries ``label_end``, when its label became known, for purging.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from hydra_plugins.alpha.features import market_features, signal_features
from hydra_plugins.alpha.select import regime_fit
from hydra_plugins.alpha.signals import build_signals
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import HydraConfig
from hydra_plugins.pipeline import Pipeline
from hydra_plugins.stats.regime_model import regime_features
from hydra_plugins.training.history import ResearchData, market_states
from hydra_plugins.training.labels import future_regime, trade_outcomes

FEE_RATE = 0.0005  # Binance USDT-M taker fee, each side (what Freqtrade's backtests charge by default)


def _pipeline(cfg: HydraConfig, data: ResearchData) -> Pipeline:
    # No models: the scorer's rows and the regime labels come from the rules, never from a model.
    return Pipeline(cfg, int(pd.Timedelta(data.timeframe).total_seconds() // 60))


def _states(
    pipe: Pipeline, data: ResearchData, pairs: Sequence[str], timerange: str | None, progress: bool
) -> Iterable[tuple[str, pd.DataFrame, pd.DataFrame | None, pd.Timestamp | None]]:
    bar = tqdm(total=len(pairs), desc="pairs", unit="pair", disable=not progress, leave=False)
    for pair, state, inputs, start in market_states(pipe, data, pairs, timerange):
        bar.set_postfix_str(pair)
        yield pair, pipe.assess(state), inputs.funding, start
        bar.update()
    bar.close()


def scorer_dataset(
    cfg: HydraConfig,
    data: ResearchData,
    pairs: Sequence[str],
    timerange: str | None,
    *,
    fee_rate: float = FEE_RATE,
    overrides: Mapping[str, float] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Return the scorer's rows: the 49 features, ``profitable`` and the trade's facts (pair, date, signal...)."""
    pipe = _pipeline(cfg, data)
    signals = build_signals(cfg.alpha.signals, include_disabled=True)
    bars_per_hour = pd.Timedelta(hours=1) / pipe.timeframe
    parts = []
    for pair, frame, funding, start in _states(pipe, data, pairs, timerange, progress):
        frame = pd.concat([frame, *(sig.generate(frame, overrides) for sig in signals)], axis=1)
        in_span = (frame["date"] >= start).to_numpy() if start is not None else np.ones(len(frame), dtype=bool)
        market = market_features(frame, pipe.timeframe)
        for sig in signals:
            d, c, ret, risk = (frame[name].to_numpy() for name in sig.output_columns()[:4])
            score = np.nan_to_num(c) * regime_fit(sig, frame[col.REGIME_RULES]) * sig.weight
            rows = np.flatnonzero((d != 0) & (score >= cfg.alpha.min_signal_confidence) & in_span & (risk > 0))
            if rows.size == 0:
                continue
            hold_hours = min(cfg.risk.max_hold_hours, sig.values(overrides).get("hold_hours", cfg.risk.max_hold_hours))
            outcome = trade_outcomes(
                frame,
                rows,
                d[rows],
                risk[rows],
                ret[rows] if sig.target_exit else np.nan,
                max(1, round(hold_hours * bars_per_hour)),
                funding,
                fee_rate,
                pipe.timeframe,
            )
            sub = frame.iloc[rows]
            features = signal_features(sub, sig, market.iloc[rows]).reset_index(drop=True)
            facts = pd.DataFrame(
                {
                    "pair": pair,
                    "date": sub["date"].to_numpy(),
                    "signal": sig.name,
                    "label_end": outcome["label_end"].to_numpy(),
                    "net_pct": outcome["net_pct"].to_numpy(),
                    "exit_reason": outcome["exit_reason"].to_numpy(),
                    "liq_is_proxy": sub[col.LIQ_IS_PROXY].fillna(True).astype(bool).to_numpy(),
                    "profitable": outcome["profitable"].to_numpy(),
                }
            )
            part = pd.concat([facts, features], axis=1)
            parts.append(part.loc[part["profitable"].notna()])
    if not parts:
        raise ValueError(f"no signal fired on {list(pairs)} in {data.datadir} over {timerange or 'all data'}")
    out = pd.concat(parts, ignore_index=True).sort_values(["date", "pair", "signal"], ignore_index=True)
    out["profitable"] = out["profitable"].astype(bool)
    return out


def regime_dataset(
    cfg: HydraConfig,
    data: ResearchData,
    pairs: Sequence[str],
    timerange: str | None,
    *,
    horizon_bars: int = 16,
    step_bars: int = 4,
    progress: bool = False,
) -> pd.DataFrame:
    """Return the regime model's rows: features, ``label`` (the future regime), ``rule_label`` (the rules now)."""
    pipe = _pipeline(cfg, data)
    parts = []
    for pair, frame, _, start in _states(pipe, data, pairs, timerange, progress):
        label = future_regime(frame[col.REGIME_RULES].where(frame[col.RV_RATIO].notna()), horizon_bars)
        keep = label.notna() & frame[col.RV_RATIO].notna() & frame[col.VOL_PCTILE].notna()
        if start is not None:
            keep &= frame["date"] >= start
        keep &= pd.Series(np.arange(len(frame)) % step_bars == 0, index=frame.index)
        sub = frame.loc[keep]
        features = regime_features(frame, pipe.timeframe).loc[keep]
        facts = pd.DataFrame(
            {
                "pair": pair,
                "date": sub["date"].to_numpy(),
                "label_end": (sub["date"] + (horizon_bars + 1) * pipe.timeframe).to_numpy(),
                "label": label.loc[keep].to_numpy(),
                "rule_label": sub[col.REGIME_RULES].to_numpy(),
            }
        )
        parts.append(pd.concat([facts, features.reset_index(drop=True)], axis=1))
    if not parts or sum(len(p) for p in parts) == 0:
        raise ValueError(f"no candles for {list(pairs)} in {data.datadir} over {timerange or 'all data'}")
    return pd.concat(parts, ignore_index=True).sort_values(["date", "pair"], ignore_index=True)
