"""The only runtime module that knows Freqtrade's objects.

``Hydra`` (the strategy) hands each callback to :class:`HydraBridge`, which reads the DataProvider,
wallets and trades, calls the pipeline with plain values, and applies HYDRA's fail-closed rule:
an entry-side error refuses the entry (False, stake 0, leverage 1); an exit-side error leaves
Freqtrade's own stoploss in charge and never blocks an exit.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pandas as pd
from freqtrade.enums import CandleType, RunMode
from freqtrade.exchange import timeframe_to_minutes
from freqtrade.persistence import Trade
from freqtrade.strategy import DecimalParameter, IntParameter, IStrategy, stoploss_from_absolute
from freqtrade.strategy.parameters import BaseParameter

from hydra_plugins.alpha.news_analyst import NewsAnalyst
from hydra_plugins.alpha.news_gate import NewsGate
from hydra_plugins.alpha.news_prompt import MarketContext, market_context
from hydra_plugins.alpha.news_scan import AnalystThread, NewsScanner
from hydra_plugins.alpha.signals import REGISTRY
from hydra_plugins.alpha.verdict_journal import VerdictJournal
from hydra_plugins.core import columns as col
from hydra_plugins.core.config import ConfigError, HydraConfig, check_pairs, load_hydra_config
from hydra_plugins.core.decisions import Decision, DecisionJournal
from hydra_plugins.core.errors import ModelArtifactError
from hydra_plugins.core.numbers import finite
from hydra_plugins.core.symbols import OPEN_INTEREST_TIMEFRAME, pair_to_symbol
from hydra_plugins.intel.features import IntelInputs
from hydra_plugins.intel.health import candle_delay_reason, coverage_summary
from hydra_plugins.intel.news import dedupe
from hydra_plugins.intel.recorder import Backoff, IntelRecorder, binance_tasks, weight_pause
from hydra_plugins.intel.sources.binance_rest import BinanceFuturesClient
from hydra_plugins.intel.sources.cryptocompare import CryptoCompareNews
from hydra_plugins.intel.store import IntelStore
from hydra_plugins.pipeline import STARTUP_CANDLES, EntryVerdict, Pipeline
from hydra_plugins.risk.correlation import OpenLeg
from hydra_plugins.risk.exits import exit_reason, health_ratio, stop_price, tightened_stop_pct
from hydra_plugins.risk.guard import KillSwitchGuard
from hydra_plugins.risk.journal import BACKTEST_JOURNAL, RiskJournal
from hydra_plugins.risk.kill_switch import Firing, KillSwitchState
from hydra_plugins.risk.kill_switch import exit_reason as kill_exit_reason
from hydra_plugins.risk.sizing import StakeDecision

logger = logging.getLogger(__name__)

T = TypeVar("T")
__all__ = ["PROTECTIONS", "STARTUP_CANDLES", "HydraBridge", "HydraParameters", "fail_closed", "validate_config"]
STOP_KEY = "hydra_stop_pct"
TARGET_KEY = "hydra_target_pct"
SCORE_KEY = "hydra_ml_score"
SIZING_KEY = "hydra_sizing"  # Kelly fraction, risk share, multipliers, correlation penalty of the entry
REGIME_KEY = "hydra_regime"
NEWS_KEY = "hydra_news"  # the news analyst's verdict in force at entry (with the analyst enabled)
REGIME_CLEAR_KEY = "hydra_regime_was_clear"  # no regime against the position held at some candle since entry
ENTRY_KEY, ENTRY_VERSION = "hydra_entry_recorded", 2  # what record_entry has stored on the trade
HEALTH_ENTRY_KEY = "hydra_health_entry"  # the signal's thesis health on the signal candle
HEALTH_MIN_KEY = "hydra_health_min"  # the lowest thesis health since, relative to the entry's (tightens the stop)
MIN_REGIME_RUN = 4  # candles: shorter regime runs are not shaded (they would only flicker)
MAX_ANNOTATIONS = 400  # the newest ones; FreqUI draws every area it gets
_API_SECRET_PLACEHOLDER = "set-FREQTRADE__API_SERVER__JWT_SECRET_KEY-in-.env"


# Freqtrade's own protections, a second line behind HYDRA's risk brain: catastrophe guards that
# should rarely fire, not a filter on ordinary losing streaks (a strategy that stops out on most of
# its trades sees four stop-outs a day often; a first, tighter setting with 4 stop-outs -> 12 h and
# a 15 % drawdown cut the held-out year's result from +3.2 % to -8.1 %). Live bots always apply
# them; backtests only with --enable-protections (make demo and hydra evaluate pass it).
PROTECTIONS: list[dict[str, Any]] = [
    # After a trade closes, its pair waits 30 minutes before the next entry.
    {"method": "CooldownPeriod", "stop_duration_candles": 2},
    # Eight stop-outs across all pairs within a day: no new entries for 12 hours.
    {
        "method": "StoplossGuard",
        "lookback_period_candles": 96,
        "trade_limit": 8,
        "stop_duration_candles": 48,
        "only_per_pair": False,
    },
    # Equity 20 % below its peak within the last week (at least 10 trades): no new entries for a day.
    {
        "method": "MaxDrawdown",
        "lookback_period_candles": 672,
        "trade_limit": 10,
        "stop_duration_candles": 96,
        "max_allowed_drawdown": 0.20,
        "calculation_mode": "equity",
    },
]


class NotAnalysedYetError(LookupError):
    """A pair has no analysed candles (yet): the bot has just started, or its candles are missing."""


class TradeNotes:
    """HYDRA's custom data on trades, read through a cache.

    Freqtrade's backtest lookup scans every trade's custom data on each read, and the exits read
    several keys per trade and candle (on a fresh trade object each time). The cache is keyed by the
    trade's id, pair and open date (ids never repeat within a run; each strategy load builds a new
    bridge), and as a backstop it is emptied whenever time goes back. A write goes to the trade and
    drops the cached key, so the next read sees exactly what Freqtrade stored.
    """

    MAX_TRADES = 2000  # a live bot's closed trades are not kept for ever: past this the cache starts over

    def __init__(self) -> None:
        self._cache: dict[tuple, dict[str, Any]] = {}
        self._now: datetime | None = None

    def clock(self, now: datetime) -> bool:
        """Called every loop: time going back means another run; forget everything (and say so)."""
        back = self._now is not None and now < self._now
        if back or len(self._cache) > self.MAX_TRADES:
            self._cache.clear()
        self._now = now
        return back

    @staticmethod
    def _key(trade: Any) -> tuple:
        return trade.id, trade.pair, trade.open_date_utc

    def get(self, trade: Any, key: str, default: Any = None) -> Any:
        notes = self._cache.setdefault(self._key(trade), {})
        if key not in notes:
            notes[key] = trade.get_custom_data(key)
        value = notes[key]
        return default if value is None else value

    def set(self, trade: Any, key: str, value: Any) -> None:
        trade.set_custom_data(key, value)
        self._cache.get(self._key(trade), {}).pop(key, None)


def fail_closed(default: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Return ``default`` (the refusing answer) when the wrapped callback raises, and log why."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            try:
                return func(*args, **kwargs)
            except NotAnalysedYetError as exc:  # e.g. a forced entry in the seconds after a start: expected, no trace
                logger.warning("HYDRA %s: %s yet; answering %r", func.__name__, exc, default)
                return default
            except Exception:
                logger.exception("HYDRA %s failed; answering %r", func.__name__, default)
                return default

        # Freqtrade inspects callback arguments with getfullargspec (e.g. custom_stoploss's
        # after_fill), which does not follow functools.wraps: expose the real signature.
        wrapper.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
        return wrapper

    return decorate


def hyperopt_parameters() -> dict[str, BaseParameter]:
    """Return one Freqtrade hyperopt parameter per threshold of every registered signal.

    They are named ``<signal>_<param>`` (e.g. ``funding_squeeze_threshold_8h``) and live in the
    "buy" space, since they decide entries: ``freqtrade hyperopt --spaces buy`` tunes them and
    writes the result to ``user_data/strategies/hydra.json``, which Freqtrade loads on start.
    """
    params: dict[str, BaseParameter] = {}
    for cls in REGISTRY.values():
        for key, spec in cls.params.items():
            name = cls.parameter_name(key)
            if spec.decimals is None:
                params[name] = IntParameter(int(spec.low), int(spec.high), default=int(spec.default), space="buy")
            else:
                params[name] = DecimalParameter(
                    spec.low, spec.high, default=spec.default, decimals=spec.decimals, space="buy"
                )
    return params


# The strategy inherits these, so Freqtrade's hyperopt finds them as class attributes.
HydraParameters = type("HydraParameters", (), hyperopt_parameters())


def check_secrets(config: dict[str, Any]) -> None:
    """Refuse to start an enabled API server or Telegram bot whose secrets were never set."""
    api = config.get("api_server", {})
    unset = api.get("jwt_secret_key") in ("", _API_SECRET_PLACEHOLDER) or not api.get("password")
    if api.get("enabled") and unset:
        raise ConfigError(
            "api_server is enabled but FREQTRADE__API_SERVER__JWT_SECRET_KEY / "
            "FREQTRADE__API_SERVER__PASSWORD are not set (see .env.example)"
        )
    tg = config.get("telegram", {})
    if tg.get("enabled") and not (tg.get("token") and tg.get("chat_id")):
        raise ConfigError(
            "telegram is enabled but FREQTRADE__TELEGRAM__TOKEN / FREQTRADE__TELEGRAM__CHAT_ID are not set"
        )
    if tg.get("enabled") and not tg.get("allow_custom_messages"):
        logger.warning(
            "telegram.allow_custom_messages is off: HYDRA's messages (kill switches, data health, models, news "
            "analyst) will not reach Telegram; config/config.json turns it on"
        )


def validate_config(ft_config: dict[str, Any], startup_candle_count: int) -> HydraConfig:
    """Run every start-up check on a Freqtrade config; raise ConfigError naming the first problem."""
    config = load_hydra_config(ft_config.get("hydra"))
    check_secrets(ft_config)
    check_pairs(config, ft_config.get("exchange", {}).get("pair_whitelist", []))
    pipeline = Pipeline(config, timeframe_to_minutes(ft_config.get("timeframe", "15m")))
    try:
        pipeline.cascade  # noqa: B018 (load it now: a bad calibration file must refuse the start, not every candle)
    except ModelArtifactError as exc:
        raise ConfigError(f"hydra.stats.cascade_calibration: {exc}") from None
    needed = pipeline.warmup_candles
    if startup_candle_count < needed:
        raise ConfigError(
            f"hydra.stats windows need {needed} warm-up candles but the strategy declares "
            f"startup_candle_count = {startup_candle_count}"
        )
    return config


class HydraBridge:
    """Adapts the pipeline to one ``IStrategy`` instance."""

    def __init__(self, strategy: IStrategy) -> None:
        self.strategy = strategy
        self.config: HydraConfig | None = None
        self.pipeline: Pipeline | None = None
        self.store: IntelStore | None = None
        self.recorder: IntelRecorder | None = None
        self._health: dict[str, str] = {}
        self._model_candle: pd.Timestamp | None = None
        self._model_block: str | None = None
        self._sizing: dict[str, dict] = {}  # pair -> the sizing of the entry on its way, until it fills
        self.guard: KillSwitchGuard | None = None
        self.news_gate: NewsGate | None = None
        self.analyst_thread: AnalystThread | None = None
        self.decisions: DecisionJournal | None = None
        self._notes = TradeNotes()
        self._rows: dict[str, tuple[pd.Timestamp, pd.Series]] = {}  # pair -> its newest analysed candle
        self._step_candle: pd.Timestamp | None = None  # backtests: the newest closed candle at this loop's time
        self._close_rows: dict[str, tuple[pd.Timestamp, pd.Series]] = {}  # pair -> closes the correlation reads

    # bot_start
    def start(self) -> None:
        """Parse and check the config once; raise ConfigError (the bot refuses to start) if bad."""
        # The class's declaration, not the instance's: recursive-analysis varies the latter on purpose.
        self.config = validate_config(self.strategy.config, type(self.strategy).startup_candle_count)
        self.pipeline = Pipeline(self.config, timeframe_to_minutes(self.strategy.timeframe), live=self._is_live())
        needed = self.pipeline.warmup_candles
        values = self.parameter_values()
        for signal in self.pipeline.signals:
            signal.values(values)  # a hydra.json value outside a parameter's range refuses the start
        self.store = self._open_store()
        self.recorder = self._build_recorder()
        self.pipeline.load_models()
        for status in self.pipeline.model_statuses():
            (logger.error if "NOT LOADED" in status else logger.info)("HYDRA %s", status)
        self.guard = self._build_guard()
        self.analyst_thread = self._start_analyst()
        self.news_gate = self._build_news_gate()
        if self._is_live():
            self.decisions = DecisionJournal(self._user_path(self.config.decisions_path))
            logger.info("HYDRA decision journal: %s (hydra status, hydra dashboard)", self.decisions.path)
        logger.info("HYDRA started: %d signals, warm-up %d candles", len(self.pipeline.signals), needed)

    def _user_path(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else Path(self.strategy.config.get("user_data_dir", "user_data")) / path

    def _build_guard(self) -> KillSwitchGuard:
        """The kill switches: state on disk in dry-run and live (a restart keeps it), in memory elsewhere.

        A state file that cannot be read does not stop the bot (its open positions still need their
        exits); new entries are refused until the file is fixed or removed.
        """
        cfg = self.ready.cfg.risk.kill_switches
        live = self._is_live()
        if live:
            journal = RiskJournal(self._user_path(cfg.journal_path))
        elif self.strategy.config.get("runmode") == RunMode.BACKTEST:
            journal = RiskJournal(self._user_path(BACKTEST_JOURNAL), fresh=True)
        else:  # hyperopt and the rest: many runs, no journal
            journal = RiskJournal(None)
        state = KillSwitchState(path=self._user_path(cfg.state_path) if live else None)
        guard = KillSwitchGuard(
            cfg, state, journal, timeframe_to_minutes(self.strategy.timeframe), lambda m, w: self._tell(m, warning=w)
        )
        if not cfg.enabled:
            logger.warning("HYDRA kill switches are disarmed (hydra.risk.kill_switches.enabled = false)")
            return guard
        guard.reload(announce=False)  # the start's own line below says what is in force
        if state.path is not None and guard.broken is None:
            logger.info(
                "HYDRA kill switches armed: %s; state %s, %d in force%s",
                ", ".join(cfg.switches), state.path, len(state.firings),
                "".join(f"\n  {f.describe()} until {f.until:%Y-%m-%d %H:%M} UTC" for f in state.firings),
            )  # fmt: skip
        return guard

    def _build_news_gate(self) -> NewsGate | None:
        """The news analyst's verdicts, live or replayed in a backtest, when the analyst is enabled.

        The log says over which span verdicts exist: outside it the gate is inactive (neutral).
        """
        cfg = self.ready.cfg.alpha.news_analyst
        if not cfg.enabled:
            return None
        path = self._user_path(cfg.journal_path)
        gate = NewsGate(path)
        span = gate.span()
        if span is None:
            logger.warning(
                "HYDRA news analyst journal %s holds no verdict yet: the LLM gate is inactive (neutral) until it does",
                path,
            )
        else:
            logger.info(
                "HYDRA LLM gate reads %s: %d verdicts from %s to %s; outside that span it is inactive (neutral)",
                path, span[0], f"{span[1]:%Y-%m-%d %H:%M}", f"{span[2]:%Y-%m-%d %H:%M}",
            )  # fmt: skip
        return gate

    def _start_analyst(self) -> AnalystThread | None:
        """Live and dry-run, when enabled and ``run_in_bot``: the analyst in a background thread.

        Each pass fetches the news (CryptoCompare), then asks for every whitelisted pair's verdict with
        the market context of the bot's own newest analysed candle. Callbacks only read the journal.
        """
        cfg = self.ready.cfg.alpha.news_analyst
        if not (cfg.enabled and cfg.run_in_bot and self._is_live()):
            return None
        store = self.store if self.store is not None else IntelStore(self._user_path(self.ready.cfg.intel.store_path))
        analyst = NewsAnalyst(cfg, VerdictJournal(self._user_path(cfg.journal_path)))
        pairs = list(self.strategy.config.get("exchange", {}).get("pair_whitelist", []))
        bases = [p.split("/", 1)[0] for p in pairs]
        tf = pd.Timedelta(minutes=timeframe_to_minutes(self.strategy.timeframe))
        http = httpx.Client(headers={"User-Agent": "hydra-plugins"})
        news = CryptoCompareNews(http, timeout_s=cfg.timeout_s)

        def contexts() -> dict[str, MarketContext]:
            out = {}
            for pair in pairs:
                try:  # the bot's cached frame, read from this thread: take a copy of the day it needs
                    frame, _ = self.strategy.dp.get_analyzed_dataframe(pair, self.strategy.timeframe)
                    recent = frame.tail(int(pd.Timedelta(days=1) / tf) + 2).copy() if frame is not None else None
                    out[pair] = market_context(pair, recent if recent is not None else pd.DataFrame(), tf)
                except Exception:
                    logger.exception("HYDRA news analyst: no market context for %s", pair)
                    out[pair] = MarketContext(pair, "unknown")
            return out

        def refresh_news(now: datetime) -> None:
            since = now - timedelta(hours=cfg.news_lookback_hours)
            store.write_news(dedupe(news.fetch(since, bases, max_pages=4)))

        thread = AnalystThread(
            NewsScanner(analyst, store), contexts, timedelta(minutes=cfg.every_minutes), refresh_news=refresh_news
        )
        thread.start()
        logger.info("HYDRA news analyst: a pass every %d minutes in the background (model %s)", cfg.every_minutes,
                    analyst.model)  # fmt: skip
        return thread

    def annotations(
        self, pair: str, start: datetime, end: datetime, frame: pd.DataFrame, colors: dict[str, str]
    ) -> list[dict[str, Any]]:
        """FreqUI areas: each run of one regime (faint, in its colour) and each kill switch window on ``pair``."""
        out: list[dict[str, Any]] = []
        if col.REGIME in frame and not frame.empty:
            tf = pd.Timedelta(minutes=timeframe_to_minutes(self.strategy.timeframe))
            view = frame.loc[(frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))]
            regime = view[col.REGIME].astype(str)
            runs = (regime != regime.shift()).cumsum()
            for _, run in view.groupby(runs, sort=False):
                name = str(run[col.REGIME].iloc[0])
                if name in colors and len(run) >= MIN_REGIME_RUN:
                    out.append({"type": "area", "start": run["date"].iloc[0], "end": run["date"].iloc[-1] + tf,
                                "color": colors[name], "label": name, "z_level": 1})  # fmt: skip
        if self.guard is not None:
            seen = {f.key: f for f in [*self.guard.state.history, *self.guard.state.firings]}
            for f in seen.values():
                if f.covers(pair) and f.fired_at <= end and f.until >= start:
                    out.append({"type": "area", "start": f.fired_at, "end": f.until, "color": "rgba(220, 0, 0, 0.35)",
                                "label": f"kill switch {f.switch}", "z_level": 5})  # fmt: skip
        return out[-MAX_ANNOTATIONS:]

    def announce_news_verdicts(self, current_time: datetime) -> None:
        """Live and dry-run: tell Telegram/FreqUI when a pair's verdict turns to hold or exit (or back)."""
        if self.news_gate is None or not self._is_live():
            return
        bases = [p.split("/", 1)[0] for p in self.strategy.config.get("exchange", {}).get("pair_whitelist", [])]
        for message in self.news_gate.changes(bases, current_time):
            self._tell(message, warning=True)

    @property
    def kill(self) -> KillSwitchGuard:
        if self.guard is None:
            raise RuntimeError("HYDRA was not started (bot_start did not run)")
        return self.guard

    @property
    def ready(self) -> Pipeline:
        if self.pipeline is None:
            raise RuntimeError("HYDRA was not started (bot_start did not run)")
        return self.pipeline

    def _is_live(self) -> bool:
        return self.strategy.config.get("runmode") in (RunMode.LIVE, RunMode.DRY_RUN)

    def _is_backtest(self) -> bool:
        """Backtesting, hyperopt and Freqtrade's analyses built on them: time moves one candle step at a time."""
        return self.strategy.config.get("runmode") in (RunMode.BACKTEST, RunMode.HYPEROPT)

    def informative_pairs(self) -> list[tuple[str, str, CandleType]]:
        """Ask Freqtrade to keep funding-rate and open-interest candles fresh for every whitelisted pair."""
        dp = self.strategy.dp
        tf = dp.get_funding_rate_timeframe()
        pairs = dp.current_whitelist()
        return [(p, tf, CandleType.FUNDING_RATE) for p in pairs] + [
            (p, OPEN_INTEREST_TIMEFRAME, CandleType.OPEN_INTEREST) for p in pairs
        ]

    def _candles(self, pair: str, timeframe: str, candle_type: CandleType) -> pd.DataFrame | None:
        frame = self.strategy.dp.get_pair_dataframe(pair=pair, timeframe=timeframe, candle_type=candle_type)
        return None if frame is None or frame.empty else frame

    def _open_store(self) -> IntelStore | None:
        """The intel store: read-write live (the bot records into it), read-only elsewhere, None if absent."""
        path = self._user_path(self.ready.cfg.intel.store_path)
        if self._is_live():
            return IntelStore(path)
        return IntelStore(path, readonly=True) if path.is_file() else None

    def intel_inputs(self, pair: str, candles: pd.DataFrame) -> IntelInputs:
        """Collect what L1 reads for ``pair``: Freqtrade's funding and open-interest candles, store series."""
        dp = self.strategy.dp
        store = self.store
        series = {}
        if store is not None and not candles.empty:
            start = candles["date"].iloc[0] - pd.Timedelta(days=1)
            symbol = pair_to_symbol(pair)
            series = store.read_all(symbol, start=start)
        return IntelInputs(
            funding=self._candles(pair, dp.get_funding_rate_timeframe(), CandleType.FUNDING_RATE),
            open_interest=self._candles(pair, OPEN_INTEREST_TIMEFRAME, CandleType.OPEN_INTEREST),
            series=series,
        )

    # populate_*
    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        pair = metadata["pair"]
        frame = self.ready.populate(dataframe, self.intel_inputs(pair, dataframe))
        self.kill.record_inputs(pair, self.ready.kill_inputs(frame))
        if self._is_live():
            self._announce_health(pair, frame)
        elif not frame.empty:
            shares = coverage_summary(frame)
            logger.info(
                "HYDRA intel coverage %s %s -> %s: %s",
                pair, frame["date"].iloc[0], frame["date"].iloc[-1],
                ", ".join(f"{k} {v:.0%}" for k, v in shares.items()),
            )  # fmt: skip
        return frame

    def parameter_values(self) -> dict[str, float]:
        """Return the current value of every signal threshold (hyperopt's epoch, hydra.json or the default)."""
        return {name: getattr(self.strategy, name).value for name in vars(HydraParameters) if not name.startswith("_")}

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        frame = self.ready.alpha(dataframe, self.parameter_values())
        entries = self.ready.entry_columns(frame)
        frame[list(entries.columns)] = entries
        if self.decisions is not None and not frame.empty:
            self._record_decision(metadata["pair"], frame)
        return frame

    def _record_decision(self, pair: str, frame: pd.DataFrame) -> None:
        """Write the pair's decision on its newest closed candle to the decision journal; never raises."""
        try:
            assert self.decisions is not None
            self.decisions.write([self.decide(pair, frame, datetime.now(UTC))])
        except Exception:
            logger.exception("HYDRA decision journal: could not record %s", pair)

    def decide(self, pair: str, frame: pd.DataFrame, now: datetime) -> Decision:
        """What every layer says of ``pair``'s newest candle in ``frame`` (analysed, with its entry columns)."""
        row = frame.iloc[-1]
        signal, direction = str(row.get(col.SIGNAL) or ""), int(row.get(col.DIRECTION, 0) or 0)
        side = "long" if direction == 1 else "short"
        health = "ok" if bool(row.get(col.HEALTH_OK, False)) else str(row.get(col.HEALTH_REASON) or "unknown")
        firing = self.kill.state.blocking(pair, now)
        news, veto = "", None
        if self.news_gate is not None:
            verdict = self.news_gate.verdict(pair.split("/", 1)[0], now)
            if verdict is not None:
                news = f"{verdict.action} ({verdict.confidence:.2f}) until {verdict.expires_at:%H:%M}: " + "; ".join(
                    verdict.reasons
                )
            veto = self.news_gate.entry_refusal(pair.split("/", 1)[0], side, now) if signal else None
        held = [t for t in Trade.get_trades_proxy(is_open=True) if t.pair == pair]
        size_usd, size_reason, sized = None, "", None
        if signal and direction and not held:
            wallets = self.strategy.wallets
            leverage = self.ready.leverage(pair, row, float(self.ready.cfg.asset(pair).max_leverage))
            try:
                sized = self._size(
                    pair, row, leverage, None, wallets.get_available_stake_amount(), frame.set_index("date")["close"]
                )
                size_usd = sized.stake * leverage if sized.stake > 0 else None
                size_reason = sized.reason
            except NotAnalysedYetError as exc:  # an open position's pair, just after a start: sizing would refuse
                sized = StakeDecision(0.0, 0.0, f"{exc} yet", code="not_analysed")
                size_reason = sized.reason
        entering = bool(row.get("enter_long") == 1 or row.get("enter_short") == 1)
        checks = self.ready.verdict(row, side, signal) if signal else None
        if held:
            t = held[0]
            final, why = (
                "IN POSITION",
                f"{'short' if t.is_short else 'long'} {t.enter_tag} since {t.open_date_utc:%m-%d %H:%M}",
            )
        elif firing is not None:
            final, why = "BLOCKED", f"kill switch {firing.describe()}"
        elif health != "ok":
            final, why = "BLOCKED", f"data health: {health}"
        elif not signal:
            final, why = "NO SIGNAL", ""
        elif checks is not None and not checks.allowed:
            final, why = "BLOCKED", checks.reason
        elif veto is not None:
            final, why = "BLOCKED", veto[1]
        elif sized is not None and sized.stake <= 0:
            final, why = "BLOCKED", f"L4: {sized.reason}"
        elif entering:
            final, why = f"ENTER {side.upper()}", size_reason
        else:
            final, why = "NO SIGNAL", f"{signal} below the confidence or ML score threshold"
        return Decision(
            time=pd.Timestamp(row["date"]).to_pydatetime(), pair=pair, price=float(row["close"]), health=health,
            regime=str(row.get(col.REGIME) or ""), gate=str(row.get(col.GATE) or ""),
            gate_reason=str(row.get(col.GATE_REASON) or ""), signal=signal, direction=direction if signal else 0,
            confidence=finite(row.get(col.CONFIDENCE)) if signal else None,
            ml_score=finite(row.get(col.ML_SCORE)) if signal else None, news=news,
            kill=firing.describe() if firing is not None else "", size_usd=size_usd, size_reason=size_reason,
            final=final, final_reason=why, written_at=now,
        )  # fmt: skip

    def _announce_health(self, pair: str, frame: pd.DataFrame) -> None:
        """Tell the user (log and Telegram/FreqUI) when a pair's entries become blocked or free, once."""
        if frame.empty:
            return
        reason = "" if bool(frame[col.HEALTH_OK].iloc[-1]) else str(frame[col.HEALTH_REASON].iloc[-1])
        if self._health.get(pair) == reason:
            return
        self._health[pair] = reason
        message = (
            f"HYDRA {pair}: entries blocked, {reason}" if reason else f"HYDRA {pair}: data healthy, entries allowed"
        )
        self._tell(message, warning=bool(reason))

    # bot_loop_start
    def refresh_models(self, current_time: datetime) -> None:
        """At the first loop of each candle: swap in model files a retraining run rewrote (after their checks).
        Not in a backtest or hyperopt: those say what they loaded at their first loop and keep it.

        Every change (a new model in use, a refused file, a model that stops entries) is logged and
        sent to Telegram/FreqUI, once.
        """
        if self._model_candle is not None and self._is_backtest():
            return  # a backtest keeps the models it started with (and told of at its first loop)
        candle = pd.Timestamp(current_time).floor(pd.Timedelta(minutes=timeframe_to_minutes(self.strategy.timeframe)))
        if candle == self._model_candle:
            return
        first = self._model_candle is None
        self._model_candle = candle
        # The first loop tells the user what bot_start found (Telegram/FreqUI are up by then), later ones what changed.
        messages = self.ready.model_statuses() if first else self.ready.refresh_models()
        for message in messages:
            self._tell(f"HYDRA {message}", warning="NOT LOADED" in message or "refused" in message)
        block = self.ready.model_block
        if block != self._model_block:
            self._model_block = block
            if block:
                self._tell(f"HYDRA: new entries stopped, a model failed its checks: {block}", warning=True)
            elif not first:
                self._tell("HYDRA: models verified, entries allowed", warning=False)

    def check_kill_switches(self, current_time: datetime) -> list[Firing]:
        """Bring the kill switches up to ``current_time`` (every loop, and before every exit and entry decision)."""
        if self._notes.clock(current_time):  # another run (a hyperopt epoch): its candles are other candles
            self._rows.clear()
            self._close_rows.clear()
        if self._is_backtest():
            tf = pd.Timedelta(minutes=timeframe_to_minutes(self.strategy.timeframe))
            self._step_candle = pd.Timestamp(current_time).floor(tf) - tf
        return self.kill.check(current_time, self._equity)

    def _equity(self, now: datetime) -> float | None:
        """Equity including unrealized P&L: the wallet plus each open trade's profit at its pair's newest close."""
        wallets = self.strategy.wallets
        if wallets is None:
            return None
        total = wallets.get_total_stake_amount()
        for trade in Trade.get_trades_proxy(is_open=True):
            rate = self.kill.close_at(trade.pair, now)
            if rate is None:
                return None
            total += trade.calc_profit(rate)
        return total

    def _tell(self, message: str, *, warning: bool) -> None:
        (logger.warning if warning else logger.info)(message)
        self.strategy.dp.send_msg(message)

    def refresh_intel(self, current_time: datetime) -> None:
        """Live and dry-run: record the light intel sources that are due (never in backtests)."""
        if self.recorder is not None:
            cfg = self.ready.cfg.intel
            self.recorder.run_due(
                current_time.timestamp(), max_calls=cfg.refresh_calls_per_loop, budget_s=cfg.refresh_budget_s
            )

    def _build_recorder(self) -> IntelRecorder | None:
        cfg = self.ready.cfg.intel
        if not (self._is_live() and cfg.refresh_in_bot) or self.store is None:
            return None
        # Short calls and long backoff: while Binance is slow or unreachable the trading loop must not
        # wait on it more than the budget, loop after loop.
        http = httpx.Client(headers={"User-Agent": "hydra-plugins"})
        client = BinanceFuturesClient(http, cfg.binance_rest_url, timeout_s=cfg.refresh_budget_s)
        symbols = [pair_to_symbol(p) for p in self.strategy.config.get("exchange", {}).get("pair_whitelist", [])]
        tasks = binance_tasks(client, symbols, premium_every_s=cfg.premium_every_s, ratios_every_s=cfg.ratios_every_s)
        return IntelRecorder(self.store, tasks, backoff=Backoff(base_s=30.0, cap_s=600.0), pause_s=weight_pause(client))

    # entry side: fail closed
    def _newest_row(self, pair: str) -> pd.Series | None:
        """The pair's newest closed candle as analysed (None before its first analysis).

        Taking a row of some 200 columns costs more than what is read from it, and the exit, stop and
        entry callbacks ask for the same candle several times: it is kept until the pair's next candle.
        In a backtest every callback of a time step follows ``bot_loop_start`` (which brings the kill
        switches to that time), so a kept row of the candle before it is the newest without asking
        Freqtrade, whose backtest answer is a fresh slice of the whole frame.
        """
        kept = self._rows.get(pair)
        if kept is not None and kept[0] == self._step_candle:
            return kept[1]
        frame, _ = self.strategy.dp.get_analyzed_dataframe(pair, self.strategy.timeframe)
        if frame is None or frame.empty:
            return None
        newest = frame["date"].iat[-1]
        if kept is None or kept[0] != newest:
            kept = self._rows[pair] = (newest, frame.iloc[-1])
        return kept[1]

    def _signal_row(self, pair: str, entry_tag: str | None = None, side: str | None = None) -> Mapping[str, Any]:
        """The newest closed candle; for an operator's forced entry, as :meth:`HydraPipeline.operator_row` sees it."""
        row = self._newest_row(pair)
        if row is None:
            raise NotAnalysedYetError(f"no analysed candles for {pair}")
        if side is not None and self.ready.is_operator_entry(entry_tag):
            return self.ready.operator_row(row, side)
        return row

    def leverage(self, pair: str, max_leverage: float, entry_tag: str | None = None, side: str = "long") -> float:
        return self.ready.leverage(pair, self._signal_row(pair, entry_tag, side), max_leverage)

    def stake(
        self,
        pair: str,
        leverage: float,
        min_stake: float | None,
        max_stake: float,
        entry_tag: str | None,
        side: str,
        current_time: datetime,
    ) -> float:
        row = self._signal_row(pair, entry_tag, side)
        allowed = self.ready.leverage(pair, row, float(self.ready.cfg.asset(pair).max_leverage))
        if leverage > allowed + 1e-9:  # an operator's forced entry may ask for more than HYDRA's cap
            decision = StakeDecision(
                0.0, 0.0, f"leverage {leverage:g} above HYDRA's {allowed:g} for this pair", code="leverage"
            )
        else:
            decision = self._size(pair, row, leverage, min_stake, max_stake)
        if decision.stake <= 0:
            # Live, every refusal matters; a backtest repeats the same refusal on every candle a signal holds.
            (logger.warning if self._is_live() else logger.debug)(
                "HYDRA refuses %s %s: %s", pair, entry_tag, decision.reason
            )
            self._sizing.pop(pair, None)
            self.kill.refuse(current_time, pair, side, entry_tag, decision.code, decision.reason)
        else:
            self._sizing[pair] = decision.rationale
            # One line per entry is useful live; in a backtest it would bury Freqtrade's report.
            log = logger.info if self._is_live() else logger.debug
            log("HYDRA stake %s %s: %.2f (%s)", pair, entry_tag, decision.stake, decision.reason)
        return decision.stake

    def _size(
        self,
        pair: str,
        row: Mapping[str, Any],
        leverage: float,
        min_stake: float | None,
        max_stake: float,
        closes: pd.Series | None = None,
    ) -> StakeDecision:
        """L4's stake for a new position on ``pair`` from ``row``, against the open positions and the wallet."""
        open_trades = Trade.get_trades_proxy(is_open=True)
        open_exposure = sum(t.stake_amount * t.leverage for t in open_trades)
        legs = [OpenLeg(t.pair, -1 if t.is_short else 1, self._closes(t.pair)) for t in open_trades if t.pair != pair]
        return self.ready.stake(
            pair,
            row,
            equity=self.strategy.wallets.get_total_stake_amount(),
            leverage=leverage,
            open_exposure_usd=open_exposure,
            open_positions=len(open_trades),
            min_stake=min_stake,
            max_stake=max_stake,
            closes=(closes if closes is not None else self._closes(pair)) if legs else None,
            open_legs=legs,
        )

    def _closes(self, pair: str) -> pd.Series:
        """The pair's last ``correlation_bars`` + 1 closes by date from its analysed candles (up to the newest
        closed one): what the correlation penalty reads. Kept for the rest of a backtest's time step, as rows are."""
        kept = self._close_rows.get(pair)
        if kept is not None and kept[0] == self._step_candle:
            return kept[1]
        frame, _ = self.strategy.dp.get_analyzed_dataframe(pair, self.strategy.timeframe)
        if frame is None or frame.empty:
            raise NotAnalysedYetError(f"no analysed candles for {pair}")
        n = self.ready.cfg.risk.correlation_bars + 1
        closes = pd.Series(frame["close"].to_numpy()[-n:], index=pd.DatetimeIndex(frame["date"].iloc[-n:]))
        self._close_rows[pair] = (frame["date"].iat[-1], closes)
        return closes

    def confirm_entry(self, pair: str, side: str, entry_tag: str | None, current_time: datetime) -> bool:
        self.check_kill_switches(current_time)  # raises (refusing the entry) while the state file is unreadable
        row = self._signal_row(pair)
        verdict = self.ready.verdict(row, side, entry_tag)
        if self._is_live():
            tf_min = timeframe_to_minutes(self.strategy.timeframe)
            delay = candle_delay_reason(
                row["date"].to_pydatetime(), current_time, tf_min, self.ready.cfg.intel.max_candle_delay_candles
            )
            if delay:
                verdict = EntryVerdict(False, delay, "candle_delay")
        firing = self.kill.state.blocking(pair, current_time)
        if firing is not None:
            verdict = EntryVerdict(False, f"kill switch {firing.describe()}", f"kill_{firing.switch}")
        elif self._is_live() and self.strategy.is_pair_locked(pair, side=side):
            # Freqtrade's protections lock pairs; its force entries do not look, HYDRA does (backtests check
            # locks themselves before asking).
            verdict = EntryVerdict(False, "pair locked by Freqtrade's protections", "protection_lock")
        elif self.kill.broken is not None:
            verdict = EntryVerdict(False, self.kill.broken, "kill_state_unreadable")
        elif verdict.allowed and self.news_gate is not None:
            refusal = self.news_gate.entry_refusal(pair.split("/", 1)[0], side, current_time)
            if refusal is not None:
                verdict = EntryVerdict(False, refusal[1], refusal[0])
        if not verdict.allowed:
            logger.warning("HYDRA refuses %s %s: %s", side, pair, verdict.reason)
            self.kill.refuse(current_time, pair, side, entry_tag, verdict.code, verdict.reason)
        return verdict.allowed

    def record_entry(self, trade: Trade) -> tuple[float, float]:
        """Return the trade's stop and target distances (%), storing them on the trade the first time.

        They come from the signal candle (the one whose close triggered the order) and never change
        afterwards, so a restart or a later candle cannot move them. The signal candle's regime and
        thesis health are stored with them (once, and filled in for a trade opened by an older HYDRA
        while its signal candle is still at hand).
        """
        stop, target = self._notes.get(trade, STOP_KEY), self._notes.get(trade, TARGET_KEY)
        if stop is not None and target is not None and self._notes.get(trade, ENTRY_KEY) == ENTRY_VERSION:
            return float(stop), float(target)
        frame, _ = self.strategy.dp.get_analyzed_dataframe(trade.pair, self.strategy.timeframe)
        tf = pd.Timedelta(minutes=timeframe_to_minutes(self.strategy.timeframe))
        # The order went out right after the signal candle closed.
        signal_open = pd.Timestamp(trade.open_date_utc).floor(tf) - tf
        rows = frame.loc[frame["date"] == signal_open]
        found = not rows.empty
        tag = trade.enter_tag or ""
        if stop is None or target is None:
            if not found:
                logger.warning(
                    "HYDRA: signal candle %s of %s trade %s is gone; using the newest candle's ATR for its stop",
                    signal_open, trade.pair, trade.id,
                )  # fmt: skip
                rows = frame.iloc[-1:]
            stop, target = self._record_stop_and_target(trade, rows, tag)
        if found:
            row = rows.iloc[-1]
            against = self.ready.regime_against(row, trade.is_short)
            if against is not None and self._notes.get(trade, REGIME_CLEAR_KEY) is None:
                self._notes.set(trade, REGIME_CLEAR_KEY, not against)
            health = self.ready.thesis_health(row, tag, trade.is_short)
            if health is not None and self._notes.get(trade, HEALTH_ENTRY_KEY) is None:
                self._notes.set(trade, HEALTH_ENTRY_KEY, round(health, 4))
        if self.news_gate is not None and self._notes.get(trade, NEWS_KEY) is None:  # the analyst's word at entry
            verdict = self.news_gate.verdict(trade.pair.split("/", 1)[0], trade.open_date_utc)
            said = "none in force" if verdict is None else f"{verdict.action} ({verdict.confidence:.2f})"
            self._notes.set(trade, NEWS_KEY, said)
        self._notes.set(trade, ENTRY_KEY, ENTRY_VERSION)
        return float(stop), float(target)

    def _record_stop_and_target(self, trade: Trade, rows: pd.DataFrame, tag: str) -> tuple[float, float]:
        if self.ready.is_operator_entry(tag):  # forced by the operator: the ATR stop sizing assumed
            seen = self.ready.operator_row(rows.iloc[-1], "short" if trade.is_short else "long")
            stop, target = float(seen[col.STOP_PCT]), float(seen[col.TARGET_PCT])
        else:
            stop = float(rows[col.signal_column(tag, "exp_risk_pct")].iloc[-1])
            target = float(rows[col.signal_column(tag, "exp_ret_pct")].iloc[-1])
        if not (stop > 0 and target > 0):
            raise ValueError(f"no usable stop/target for {trade.pair} ({stop}, {target})")
        self._notes.set(trade, STOP_KEY, stop)
        self._notes.set(trade, TARGET_KEY, target)
        # What L2/L3 thought of the entry, kept with the trade (FreqUI and /status show custom data).
        score = rows[col.ML_SCORE].iloc[-1] if col.ML_SCORE in rows else None
        if score is not None and pd.notna(score):
            self._notes.set(trade, SCORE_KEY, round(float(score), 4))
        if col.REGIME in rows:
            self._notes.set(trade, REGIME_KEY, str(rows[col.REGIME].iloc[-1]))
        sizing = self._sizing.pop(trade.pair, None)
        if sizing is not None:
            self._notes.set(trade, SIZING_KEY, sizing)
        return stop, target

    # exit side: never blocks
    def _thesis_broken(self, trade: Trade) -> str | None:
        """The thesis-health exit for ``trade`` on the newest closed candle; None (and logged) if it cannot tell.

        A failure here must not take the stop, take-profit and time stop down with it.
        """
        try:
            row = self._newest_row(trade.pair)
            return None if row is None else self.ready.thesis_broken(row, trade.enter_tag, trade.is_short)
        except Exception:
            logger.exception(
                "HYDRA thesis check failed for %s trade %s; the other exits still apply", trade.pair, trade.id
            )
            return None

    def _stop_pct(self, trade: Trade) -> float:
        """The trade's stop distance now: the entry stop, tightened as its thesis has weakened (never wider).

        A failure to read the thesis leaves the stop where the trade's history put it, logged.
        """
        stop_pct, _ = self.record_entry(trade)
        lowest = float(self._notes.get(trade, HEALTH_MIN_KEY, 1.0))
        try:
            row = self._newest_row(trade.pair)
            if row is not None:
                now = self.ready.thesis_health(row, trade.enter_tag, trade.is_short)
                ratio = health_ratio(self._notes.get(trade, HEALTH_ENTRY_KEY), now)
                if ratio is not None and ratio < lowest:
                    lowest = round(ratio, 4)
                    self._notes.set(trade, HEALTH_MIN_KEY, lowest)
        except Exception:
            logger.exception("HYDRA thesis health failed for %s trade %s; the stop stays", trade.pair, trade.id)
        return tightened_stop_pct(stop_pct, lowest, self.ready.cfg.risk.stop_tighten_floor)

    def stoploss(self, trade: Trade, current_rate: float) -> float | None:
        stop_pct = self._stop_pct(trade)
        rate = stop_price(trade.open_rate, stop_pct, trade.is_short)
        ratio = stoploss_from_absolute(rate, current_rate, is_short=trade.is_short, leverage=trade.leverage)
        # Price already through the stop: Freqtrade ignores 0, so custom_exit closes the trade instead.
        return ratio if ratio > 0 else None

    def _kill_exit(self, trade: Trade, current_time: datetime) -> str | None:
        """The kill switch exit for ``trade``, or None; a failure is logged and the other exits still apply."""
        if not self.kill.cfg.enabled:
            return None
        try:
            self.check_kill_switches(current_time)
        except Exception:  # what is already in force still closes what it covers
            logger.exception("HYDRA kill switch check failed at %s; the switches in force still apply", current_time)
        try:
            side = "short" if trade.is_short else "long"
            firing = self.kill.state.flattening(trade.pair, side, trade.open_date_utc, current_time)
            if firing is None:
                firing = self._regime_break(trade, side)
            return None if firing is None else kill_exit_reason(firing.switch)
        except Exception:
            logger.exception(
                "HYDRA kill switch check failed for %s trade %s; the other exits still apply", trade.pair, trade.id
            )
            return None

    def _regime_break(self, trade: Trade, side: str) -> Firing | None:
        """Fire the regime break for ``trade``'s pair and side when the newest closed candle shows one.

        It fires when a regime against the position holds, volatility is extreme, and the regime was
        clear of it at some candle since the entry (``hydra_regime_was_clear``, kept on the trade). A
        trade that never saw it clear (one opened to fade that very regime) has seen no flip.
        """
        row = self._newest_row(trade.pair)
        if row is None:
            return None
        against = self.ready.regime_against(row, trade.is_short)
        was_clear = self._notes.get(trade, REGIME_CLEAR_KEY)
        if against is None:
            return None
        if was_clear is None:  # a trade whose signal candle was not seen: watch from now on
            self._notes.set(trade, REGIME_CLEAR_KEY, not against)
            return None
        if not against:
            if not was_clear:
                self._notes.set(trade, REGIME_CLEAR_KEY, True)
            return None
        reason = self.ready.regime_break(row, was_clear, trade.is_short)
        if reason is None:
            return None
        tf = pd.Timedelta(minutes=timeframe_to_minutes(self.strategy.timeframe))
        closed = (row["date"] + tf).to_pydatetime()
        if not trade.open_date_utc < closed:
            return None
        until = closed + pd.Timedelta(hours=self.kill.cfg.cooldown_hours).to_pytimedelta()
        firing = Firing("regime_break", trade.pair, closed, until, reason, side=side)
        self.kill.fire(firing)
        return firing

    def _news_exit(self, trade: Trade, current_time: datetime) -> str | None:
        """The news analyst's exit for ``trade``, or None; a failure is logged and the other exits still apply."""
        if self.news_gate is None:
            return None
        try:
            return self.news_gate.exit_reason(trade.pair.split("/", 1)[0], trade.open_date_utc, current_time)
        except Exception:
            logger.exception("HYDRA news verdict check failed for %s trade %s; other exits apply", trade.pair, trade.id)
            return None

    def exit_price(self, trade: Trade, proposed_rate: float, exit_tag: str | None) -> float | None:
        """A kill exit's limit price: through the proposed price by ``exit_cross_pct``; None keeps Freqtrade's."""
        if not (exit_tag or "").startswith("hydra_kill_"):
            return None
        cross = self.kill.cfg.exit_cross_pct / 100.0
        return proposed_rate * (1 + cross) if trade.is_short else proposed_rate * (1 - cross)

    def exit(self, trade: Trade, current_time: datetime, current_rate: float) -> str | None:
        kill = self._kill_exit(trade, current_time)
        if kill is not None:
            return kill
        news = self._news_exit(trade, current_time)
        if news is not None:
            return news
        _, target_pct = self.record_entry(trade)
        stop_pct = self._stop_pct(trade)
        held_hours = (current_time - trade.open_date_utc).total_seconds() / 3600.0
        max_hold = self.ready.cfg.risk.max_hold_hours
        signal = self.ready.signal(trade.enter_tag)
        if signal is not None:
            values = signal.values(self.parameter_values())
            max_hold = min(max_hold, values.get("hold_hours", max_hold))
            target_pct = target_pct if signal.target_exit else None
        return exit_reason(
            open_rate=trade.open_rate,
            current_rate=current_rate,
            is_short=trade.is_short,
            stop_pct=stop_pct,
            target_pct=target_pct,
            held_hours=held_hours,
            max_hold_hours=max_hold,
            thesis_broken=self._thesis_broken(trade),
        )
