"""HYDRA's settings: the ``"hydra"`` section of a Freqtrade config, parsed once into frozen models.

Every model rejects unknown keys, so a typo refuses to start instead of silently taking a default.
Bounds live in the types; :func:`load_hydra_config` turns pydantic's errors into one message that
names each bad key and what it allows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hydra_plugins.core.errors import ConfigError

Fraction = Annotated[float, Field(gt=0.0, le=1.0)]
PositiveUsd = Annotated[float, Field(gt=0.0)]
Leverage = Annotated[int, Field(ge=1, le=125)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AssetSpec(_Frozen):
    """Per-asset multipliers from the seed's asset table."""

    volatility_multiplier: Annotated[float, Field(ge=0.5, le=5.0)]
    size_multiplier: Fraction
    max_leverage: Leverage


SEED_ASSETS: dict[str, AssetSpec] = {
    "BTC": AssetSpec(volatility_multiplier=1.0, size_multiplier=1.0, max_leverage=20),
    "ETH": AssetSpec(volatility_multiplier=1.15, size_multiplier=1.0, max_leverage=20),
    "SOL": AssetSpec(volatility_multiplier=1.5, size_multiplier=0.8, max_leverage=15),
    "BNB": AssetSpec(volatility_multiplier=1.1, size_multiplier=0.8, max_leverage=15),
    "ADA": AssetSpec(volatility_multiplier=1.3, size_multiplier=0.6, max_leverage=10),
    "XRP": AssetSpec(volatility_multiplier=1.25, size_multiplier=0.7, max_leverage=10),
    "LTC": AssetSpec(volatility_multiplier=1.05, size_multiplier=0.7, max_leverage=15),
    "DOGE": AssetSpec(volatility_multiplier=2.0, size_multiplier=0.5, max_leverage=10),
}


IntelSource = Literal["open_interest", "ratios", "premium_index", "depth"]


class SourceAges(_Frozen):
    """Oldest acceptable row per source at a candle's close, in minutes (the live health gate)."""

    open_interest: Annotated[float, Field(gt=0, le=1440)] = 30.0
    ratios: Annotated[float, Field(gt=0, le=1440)] = 30.0
    premium_index: Annotated[float, Field(gt=0, le=1440)] = 10.0
    depth: Annotated[float, Field(gt=0, le=1440)] = 10.0


class IntelConfig(_Frozen):
    """L1: point-in-time joins, the intel store and the data-health gate."""

    # Relative paths are inside Freqtrade's user_data_dir.
    store_path: str = "hydra/intel.sqlite"
    # Live and dry-run: entries are blocked while one of these is missing or older than its limit.
    # Backtests only report their coverage (history of most of them does not exist).
    required_live: tuple[IntelSource, ...] = ("open_interest", "ratios", "premium_index")
    max_age_minutes: SourceAges = SourceAges()
    # Live and dry-run: the bot itself refreshes the light sources from bot_loop_start, a few calls per
    # loop so trading never waits. `hydra intel collect` records everything, depth and liquidations too.
    binance_rest_url: str = "https://fapi.binance.com"
    refresh_in_bot: bool = True
    refresh_calls_per_loop: Annotated[int, Field(ge=1, le=50)] = 4
    refresh_budget_s: Annotated[float, Field(gt=0, le=30)] = 2.0  # per loop; also each call's timeout
    premium_every_s: Annotated[float, Field(ge=5, le=3600)] = 60.0
    ratios_every_s: Annotated[float, Field(ge=60, le=3600)] = 300.0

    # Binance publishes a settled rate seconds after settlement, but a live Freqtrade bot refreshes its
    # funding candles only about every 30 minutes: backtests wait as long, so they never know sooner.
    funding_publish_lag_minutes: Annotated[int, Field(ge=0, le=120)] = 30
    max_funding_age_hours: Annotated[float, Field(gt=0.0, le=48.0)] = 9.0
    funding_z_settlements: Annotated[int, Field(ge=3, le=270)] = 21
    max_flat_candles: Annotated[int, Field(ge=1, le=96)] = 4
    max_candle_delay_candles: Annotated[int, Field(ge=1, le=10)] = 2


class OpponentConfig(_Frozen):
    """The opponent model: where other traders' leveraged positions sit and would be liquidated.

    ``leverage_bands`` maps a leverage to the share of new positions assumed to use it (an assumption
    about Binance's retail mix, not a measurement); the shares must sum to 1.
    """

    leverage_bands: dict[int, Fraction] = Field(
        default_factory=lambda: {5: 0.15, 10: 0.30, 25: 0.30, 50: 0.15, 100: 0.10}
    )
    maintenance_margin: Annotated[float, Field(ge=0.0, le=0.05)] = 0.004
    window_bars: Annotated[int, Field(ge=16, le=2880)] = 672  # positions older than this are forgotten
    proxy_half_life_bars: Annotated[int, Field(ge=4, le=2880)] = 192  # proxy: share still open halves
    proxy_open_share: Fraction = 0.1  # proxy: share of a candle's volume that opens new positions
    bin_pct: Annotated[float, Field(gt=0.0, le=2.0)] = 0.25  # price grid, percent per bin
    cluster_range_pct: Annotated[float, Field(gt=0.0, le=50.0)] = 15.0  # look this far from the close
    # A cluster: three neighbouring bins holding at least this many times the side's average density in range.
    cluster_density: Annotated[float, Field(ge=1.0, le=50.0)] = 2.0
    near_pct: Annotated[float, Field(gt=0.0, le=20.0)] = 3.0

    @model_validator(mode="after")
    def _bands(self) -> OpponentConfig:
        if not self.leverage_bands or any(not 1 <= lev <= 125 for lev in self.leverage_bands):
            raise ValueError("leverage_bands needs leverages between 1 and 125")
        if abs(sum(self.leverage_bands.values()) - 1.0) > 1e-6:
            raise ValueError(f"leverage_bands shares must sum to 1 (got {sum(self.leverage_bands.values()):g})")
        return self


class ModelConfig(_Frozen):
    """One of HYDRA's two models: its file and whether L2/L3 use it.

    ``enabled``: true uses the model and stops new entries while it is missing or fails its checks;
    false never loads it; null (the default) uses it when the file is there, passes its checks and
    its model card recommends it (its walk-forward validation beat the baseline), and says so in the
    log either way. A file that is there but fails its checks at start (or a model that fails
    while predicting) stops new entries in both modes; a newer file that fails while a verified
    model is in use is refused and the verified model stays.
    A relative ``path`` is relative to the directory Freqtrade runs in (the project root).
    """

    path: str
    enabled: bool | None = None


class StatsConfig(_Frozen):
    """L2: volatility windows, regime rules and the ALLOW / REDUCE / BLOCK thresholds."""

    atr_period: Annotated[int, Field(ge=2, le=200)] = 14
    rv_window_bars: Annotated[int, Field(ge=8, le=2000)] = 96
    rv_baseline_bars: Annotated[int, Field(ge=96, le=2000)] = 672
    vol_pctile_bars: Annotated[int, Field(ge=96, le=2000)] = 1344  # the volatility regime's window, 14 days
    bb_period: Annotated[int, Field(ge=5, le=200)] = 20
    sma_fast_bars: Annotated[int, Field(ge=2, le=500)] = 50
    sma_slow_bars: Annotated[int, Field(ge=3, le=800)] = 200
    adx_trend_min: Annotated[float, Field(ge=5.0, le=60.0)] = 25.0
    high_vol_ratio: Annotated[float, Field(ge=1.0, le=10.0)] = 1.8
    high_vol_pctile: Annotated[float, Field(ge=0.5, le=1.0)] = 0.95
    reduce_vol_ratio: Annotated[float, Field(ge=1.0, le=10.0)] = 2.0
    block_vol_ratio: Annotated[float, Field(ge=1.0, le=20.0)] = 3.0
    reduce_size_mult: Fraction = 0.5
    shock_atr: Annotated[float, Field(ge=1.0, le=20.0)] = 4.0
    squeeze_funding_8h: Annotated[float, Field(gt=0.0, le=0.01)] = 0.0005
    # Cascade probability (stats/cascade.py): the regime says CASCADE_RISK from the first level,
    # the gate says REDUCE from the second and BLOCK from the third.
    cascade_regime_prob: Fraction = 0.5
    cascade_reduce_prob: Fraction = 0.4
    cascade_block_prob: Fraction = 0.7
    cascade_calibration: str | None = None  # a file from `hydra calibrate cascade`; None: the shipped one
    opponent: OpponentConfig = OpponentConfig()
    regime_model: ModelConfig = ModelConfig(path="models/regime_classifier.ubj")

    @model_validator(mode="after")
    def _ordered(self) -> StatsConfig:
        if self.sma_fast_bars >= self.sma_slow_bars:
            raise ValueError("sma_fast_bars must be smaller than sma_slow_bars")
        if self.reduce_vol_ratio > self.block_vol_ratio:
            raise ValueError("reduce_vol_ratio must not exceed block_vol_ratio")
        if self.rv_baseline_bars < self.rv_window_bars:
            raise ValueError("rv_baseline_bars must be at least rv_window_bars")
        if self.cascade_reduce_prob > self.cascade_block_prob:
            raise ValueError("cascade_reduce_prob must not exceed cascade_block_prob")
        return self


class SignalSwitch(_Frozen):
    """Whether a signal may trade, and how much its score counts when signals compete.

    The signal's thresholds are Freqtrade hyperopt parameters of the strategy (``<signal>_<param>``),
    tuned with ``freqtrade hyperopt`` and stored in ``user_data/strategies/hydra.json``.
    """

    enabled: bool = True
    weight: Fraction = 1.0


class SignalsConfig(_Frozen):
    """One switch per registered signal.

    The defaults follow ``hydra report signals`` on the development span (2022-01 to 2023-06, README
    "Which signals carry edge"): FUNDING_SQUEEZE had the largest means after costs, positive at every
    horizon, though no signal's interval lay above zero. The others ship switched off:
    LIQUIDATION_REVERSAL's means were a fifth of a percent, CROWDING_FADE fired once, FUNDING_CARRY
    lost at short horizons, and OI_DIVERGENCE has only four days of open-interest history to be
    judged on. ``config/all-signals.json`` switches all five on.
    """

    funding_squeeze: SignalSwitch = SignalSwitch()
    liquidation_reversal: SignalSwitch = SignalSwitch(enabled=False)
    oi_divergence: SignalSwitch = SignalSwitch(enabled=False)
    crowding_fade: SignalSwitch = SignalSwitch(enabled=False)
    funding_carry: SignalSwitch = SignalSwitch(enabled=False)


class NewsAnalystConfig(_Frozen):
    """L3's LLM news analyst: a verdict per pair from recent news (alpha/news_analyst.py).

    The model comes from ``LLM_MODEL`` and the key from ``ANTHROPIC_API_KEY`` (``ANTHROPIC_BASE_URL``
    points the SDK elsewhere), never from this file.
    """

    enabled: bool = False
    # "anthropic": the Messages API (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL). "openai_compatible": a server
    # with OpenAI's chat-completions API, e.g. a local Ollama or vLLM (OPENAI_BASE_URL overrides the URL,
    # OPENAI_API_KEY is sent when set); LLM_MODEL names the model either way.
    endpoint: Literal["anthropic", "openai_compatible"] = "anthropic"
    openai_base_url: str = "http://localhost:11434/v1"
    # Live and dry-run: the bot runs the analyst in a background thread (fetching news first); false when
    # `hydra llm run` does it as a separate service (docker-compose's hydra-analyst).
    run_in_bot: bool = True
    every_minutes: Annotated[int, Field(ge=5, le=1440)] = 30
    verdict_ttl_minutes: Annotated[int, Field(ge=5, le=1440)] = 60  # a verdict expires this long after it is known
    news_lookback_hours: Annotated[float, Field(gt=0, le=168)] = 12.0
    max_articles: Annotated[int, Field(ge=1, le=50)] = 15  # the newest this many, per pair and request
    max_tokens: Annotated[int, Field(ge=64, le=4096)] = 400  # the answer's limit
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 30.0
    max_retries: Annotated[int, Field(ge=0, le=5)] = 2  # the SDK's own backoff for 429 / 5xx / timeouts
    calls_per_hour: Annotated[int, Field(ge=1, le=10_000)] = 40
    daily_token_budget: Annotated[int, Field(ge=1_000, le=100_000_000)] = 400_000
    # What a pair's verdict is when the analyst fails (timeout, refusal, out-of-schema answer, budget):
    # "neutral" leaves entries to the other layers, "hold" refuses new entries on the pair.
    failure_default: Literal["neutral", "hold"] = "neutral"
    # USD per million tokens, for the journal's cost estimate: set them to your model's prices (defaults: Sonnet 4.x).
    usd_per_mtok_input: Annotated[float, Field(ge=0, le=1000)] = 3.0
    usd_per_mtok_output: Annotated[float, Field(ge=0, le=1000)] = 15.0
    journal_path: str = "hydra/llm_journal.sqlite"  # inside Freqtrade's user_data_dir


class AlphaConfig(_Frozen):
    """L3: signal thresholds and the scorer's cut-off."""

    min_signal_confidence: Fraction = 0.50
    ml_threshold: Fraction = 0.45  # the scorer's P(profitable) a signal needs to trade
    scorer: ModelConfig = ModelConfig(path="models/signal_scorer.cbm")
    signals: SignalsConfig = SignalsConfig()
    news_analyst: NewsAnalystConfig = NewsAnalystConfig()


KillSwitchName = Literal["daily_drawdown", "funding_spike", "cascade", "regime_break"]


class KillSwitchConfig(_Frozen):
    """L4's kill switches (risk/kill_switch.py): when one fires, the positions it covers are closed at
    once and new entries it covers are refused for ``cooldown_hours``.

    ``switches`` lists the ones armed (all four by default); ``enabled: false`` disarms them all.
    In dry-run and live the state is kept in ``state_path`` (relative to Freqtrade's user_data_dir),
    so a restart keeps it; ``hydra risk status`` shows it and ``hydra risk clear`` ends a cool-down.
    """

    enabled: bool = True
    switches: tuple[KillSwitchName, ...] = ("daily_drawdown", "funding_spike", "cascade", "regime_break")
    # Equity (including unrealized P&L) this far below its value at the UTC day's start: flatten all.
    daily_drawdown_pct: Annotated[float, Field(gt=0.0, le=50.0)] = 5.0
    # A pair's last settled or predicted funding rate (per settlement, not 8h-scaled) beyond this, in %.
    funding_spike_pct: Annotated[float, Field(gt=0.0, le=5.0)] = 0.5
    # A pair's cascade probability above this flattens the pair; above it on at least two pairs and at
    # least cascade_market_share of the pairs with a known probability, it flattens every pair.
    cascade_prob: Fraction = 0.7
    cascade_market_share: Fraction = 0.5
    # Regime break: the regime turned against an open position while volatility is extreme, i.e. in
    # the top (1 - this) of its 14-day range or above stats.block_vol_ratio x normal.
    regime_break_vol_pctile: Annotated[float, Field(ge=0.5, le=1.0)] = 0.95
    cooldown_hours: Annotated[float, Field(gt=0.0, le=168.0)] = 12.0
    # A kill exit's limit price goes this far through the proposed price (below it to sell, above to buy
    # back), so it fills at once in a fast market; within Freqtrade's custom_price_max_distance_ratio (2 %).
    exit_cross_pct: Annotated[float, Field(ge=0.0, le=2.0)] = 0.5
    state_path: str = "hydra/kill_switches.json"
    journal_path: str = "hydra/risk_journal.jsonl"  # every firing and refused entry, one JSON line each

    def armed(self, switch: str) -> bool:
        return self.enabled and switch in self.switches


class RiskConfig(_Frozen):
    """L4: the seed's limits."""

    max_leverage: Leverage = 10
    max_position_usd: PositiveUsd = 10_000.0
    max_exposure_usd: PositiveUsd = 50_000.0
    max_positions: Annotated[int, Field(ge=1, le=100)] = 5
    risk_per_trade: Annotated[float, Field(gt=0.0, le=0.05)] = 0.01
    kelly_multiplier: Fraction = 0.25
    # Correlation penalty: size x 1 / (1 + penalty x sum of positive return correlations with the open
    # positions, opposite-direction ones weighted by correlation_opposite_weight), over correlation_bars.
    correlation_penalty: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    correlation_opposite_weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    correlation_bars: Annotated[int, Field(ge=48, le=2880)] = 672
    liquidation_buffer: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    max_hold_hours: Annotated[float, Field(gt=0.0, le=720.0)] = 24.0
    # As a trade's thesis weakens (its signal's health relative to the entry candle's), its stop moves
    # in, linearly down to this share of the entry stop's distance when the thesis is gone.
    stop_tighten_floor: Annotated[float, Field(ge=0.1, le=1.0)] = 0.5
    # Operator entries (FreqUI/Telegram/REST force entries without a signal's tag): every gate and
    # kill switch still applies; the stop is this many ATRs, the take-profit this multiple of it, and
    # the size is the fixed risk per trade (no signal, so no Kelly edge to scale it).
    operator_stop_atr: Annotated[float, Field(gt=0.0, le=20.0)] = 2.0
    operator_reward_risk: Annotated[float, Field(gt=0.0, le=20.0)] = 1.5
    kill_switches: KillSwitchConfig = KillSwitchConfig()


class HydraConfig(_Frozen):
    """The whole ``"hydra"`` section."""

    assets: dict[str, AssetSpec] = Field(default_factory=lambda: dict(SEED_ASSETS))
    intel: IntelConfig = IntelConfig()
    stats: StatsConfig = StatsConfig()
    alpha: AlphaConfig = AlphaConfig()
    risk: RiskConfig = RiskConfig()
    # Dry-run and live: every pair's decision on every candle (relative paths are inside user_data).
    decisions_path: str = "hydra/decisions.sqlite"

    def asset(self, pair: str) -> AssetSpec:
        """Return the asset-table row for a Freqtrade pair such as ``"BTC/USDT:USDT"``."""
        base = pair.split("/", 1)[0]
        try:
            return self.assets[base]
        except KeyError:
            raise ConfigError(
                f"hydra.assets has no entry for {base!r} (pair {pair}); add it to trade this pair"
            ) from None


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(["hydra", *(str(part) for part in error["loc"])])
    got = error.get("input")
    shown = "" if isinstance(got, dict) else f" (got {got!r})"
    return f"{key}: {error['msg']}{shown}"


def load_hydra_config(raw: Any) -> HydraConfig:
    """Parse the ``"hydra"`` section, or raise ConfigError naming every bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f'the "hydra" config section must be an object, got {type(raw).__name__}')
    try:
        return HydraConfig.model_validate(raw)
    except ValidationError as exc:
        lines = "\n  ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f'invalid "hydra" config:\n  {lines}') from None


def check_pairs(config: HydraConfig, pairs: list[str]) -> None:
    """Refuse a whitelist with a pair the asset table does not cover."""
    missing = sorted({p for p in pairs if p.split("/", 1)[0] not in config.assets})
    if missing:
        raise ConfigError(f"hydra.assets has no entry for pairs {missing}; add them to hydra.assets")
