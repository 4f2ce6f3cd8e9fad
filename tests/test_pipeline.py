"""The whole pipeline on real data: columns, entries, and no lookahead from end to end."""

import pandas as pd
import pytest

from hydra_plugins.alpha.signals import REGISTRY
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import HydraConfig
from hydra_plugins.intel.features import IntelInputs
from hydra_plugins.pipeline import Pipeline
from hydra_plugins.stats.regime import Gate, Regime
from tests.conftest import load_candles, load_funding, needs_data

pytestmark = needs_data


@pytest.fixture(scope="module")
def run():
    pipe = Pipeline(HydraConfig(), 15)
    candles = load_candles("XRP", "2023-11-01", "2024-03-20")
    funding = load_funding("XRP")
    return pipe, candles, funding, pipe.alpha(pipe.populate(candles, IntelInputs(funding=funding)))


def test_populate_adds_hydra_columns_and_keeps_candles(run):
    pipe, candles, _, out = run
    pd.testing.assert_frame_equal(out[candles.columns], candles)
    for name in (col.FUNDING_RATE_8H, col.HEALTH_OK, col.ATR_PCT, col.REGIME, col.GATE, col.SIGNAL, col.STOP_PCT):
        assert name in out.columns
    warm = out.iloc[pipe.warmup_candles :]
    assert set(warm[col.REGIME]) <= set(Regime)
    assert set(warm[col.GATE]) <= set(Gate)
    assert warm[col.HEALTH_OK].mean() > 0.95  # the shared data is nearly gap-free


def test_no_lookahead_anywhere_in_the_pipeline(run):
    pipe, candles, funding, full = run
    for n in (pipe.warmup_candles + 5, 8000, len(candles) - 3):
        head = pipe.alpha(pipe.populate(candles.iloc[:n], IntelInputs(funding=funding)))
        pd.testing.assert_frame_equal(head, full.iloc[:n], check_exact=False, rtol=1e-9)


def test_entries_need_every_layer(run):
    pipe, _, _, out = run
    entries = pipe.entry_columns(out)
    fired = entries["enter_long"].astype(bool) | entries["enter_short"].astype(bool)
    assert fired.sum() > 0
    assert not (entries["enter_long"].astype(bool) & entries["enter_short"].astype(bool)).any()
    assert set(entries.loc[fired, "enter_tag"]) <= set(REGISTRY)
    assert out.loc[fired, col.HEALTH_OK].all()
    assert (out.loc[fired, col.GATE] != Gate.BLOCK).all()
    assert (out.loc[fired, col.CONFIDENCE] >= 0.5).all()
    assert entries.loc[~fired, "enter_tag"].isna().all()


def test_entry_verdict_rechecks_the_signal_candle(run):
    pipe, _, _, out = run
    entries = pipe.entry_columns(out)
    row = out.loc[entries["enter_short"].astype(bool) | entries["enter_long"].astype(bool)].iloc[0]
    side = "long" if row[col.DIRECTION] == 1 else "short"
    assert pipe.verdict(row, side, row[col.SIGNAL]).allowed
    assert not pipe.verdict(row, "long" if side == "short" else "short", row[col.SIGNAL]).allowed
    stale = row.copy()
    stale[col.HEALTH_OK] = False
    stale[col.HEALTH_REASON] = "no funding rate known"
    assert pipe.verdict(stale, side, row[col.SIGNAL]).reason == "data health: no funding rate known"
    blocked = row.copy()
    blocked[col.GATE] = Gate.BLOCK
    assert "L2 gate BLOCK" in pipe.verdict(blocked, side, row[col.SIGNAL]).reason


def test_missing_funding_blocks_every_entry(run):
    pipe, candles, _, _ = run
    out = pipe.alpha(pipe.populate(candles, IntelInputs()))
    assert not out[col.HEALTH_OK].any()
    assert pipe.entry_columns(out)[["enter_long", "enter_short"]].sum().sum() == 0


def test_alpha_follows_the_hyperopt_values(run):
    pipe, _, _, out = run
    name = col.signal_column("FUNDING_SQUEEZE", "dir")
    strict = pipe.alpha(out, {"funding_squeeze_threshold_8h": 0.003})
    loose = pipe.alpha(out, {"funding_squeeze_threshold_8h": 0.0002})
    assert (strict[name] != 0).sum() < (out[name] != 0).sum() < (loose[name] != 0).sum()
    assert list(strict.columns) == list(out.columns)  # re-running alpha replaces its columns, adds none


def test_the_l2_gate_says_block_and_reduce_with_reasons_on_real_data(run):
    pipe, _, _, out = run
    warm = out.iloc[pipe.warmup_candles :]
    counts = warm[col.GATE].value_counts()
    assert counts.get(Gate.ALLOW, 0) > counts.get(Gate.REDUCE, 0) > 0 and counts.get(Gate.BLOCK, 0) > 0
    assert (warm.loc[warm[col.GATE] != Gate.ALLOW, col.GATE_REASON] != "").all()
    assert set(warm[col.GATE_SIZE_MULT]) <= {0.0, 0.5, 1.0}
    assert warm[col.CASCADE_PROB].between(0, 1).all()
