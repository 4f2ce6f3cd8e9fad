"""HYDRA for Freqtrade: a thin strategy; every decision lives in ``hydra_plugins``.

freqtrade backtesting --strategy Hydra -c config/config.json -c config/offline.json
freqtrade trade --strategy Hydra -c config/config.json
"""

from datetime import datetime

from freqtrade.persistence import Order, Trade
from freqtrade.strategy import IStrategy
from pandas import DataFrame

from hydra_plugins.bridge import PROTECTIONS, STARTUP_CANDLES, HydraBridge, HydraParameters, fail_closed
from hydra_plugins.core import columns as col

REGIME_COLORS = {
    "TRENDING_UP": "green",
    "TRENDING_DOWN": "red",
    "RANGING": "gray",
    "HIGH_VOLATILITY": "orange",
    "CASCADE_RISK": "black",
    "SQUEEZE_LONG": "blue",
    "SQUEEZE_SHORT": "purple",
}
# The same colours, faint, for shading each regime's span on the chart (plot_annotations).
REGIME_SHADES = {
    "TRENDING_UP": "rgba(0, 128, 0, 0.08)",
    "TRENDING_DOWN": "rgba(200, 0, 0, 0.08)",
    "RANGING": "rgba(128, 128, 128, 0.06)",
    "HIGH_VOLATILITY": "rgba(255, 140, 0, 0.10)",
    "CASCADE_RISK": "rgba(0, 0, 0, 0.15)",
    "SQUEEZE_LONG": "rgba(0, 0, 255, 0.08)",
    "SQUEEZE_SHORT": "rgba(128, 0, 128, 0.08)",
}


class Hydra(HydraParameters, IStrategy):
    """Trade where other futures traders are forced to act (see README: the five layers).

    HydraParameters holds one hyperopt parameter per signal threshold, ``<signal>_<param>`` in the
    "buy" space (README: "Tuning the signals"); ``freqtrade hyperopt --spaces buy`` tunes them.
    """

    INTERFACE_VERSION = 3
    timeframe = "15m"
    can_short = True
    startup_candle_count = STARTUP_CANDLES
    process_only_new_candles = True
    minimal_roi = {"0": 100.0}  # exits are HYDRA's: stop, take-profit, time stop
    # Backstop only: custom_stoploss places the real stop from the entry candle's ATR, and leverage
    # keeps that stop within hydra.risk.liquidation_buffer (0.5) of the stake, inside this one.
    stoploss = -0.6
    use_custom_stoploss = True
    use_exit_signal = True
    order_types = {
        "entry": "limit",
        "exit": "limit",
        "stoploss": "market",
        "stoploss_on_exchange": False,
    }

    @property
    def protections(self):
        return PROTECTIONS

    plot_config = {
        "main_plot": {col.SMA_FAST: {"color": "orange"}, col.SMA_SLOW: {"color": "purple"}},
        "subplots": {
            "Funding 8h": {col.FUNDING_RATE_8H: {"color": "red", "type": "bar"}},
            "Funding z-score": {col.FUNDING_Z: {"color": "firebrick"}},
            "Open interest 1h %": {col.OI_DELTA_PCT_1H: {"color": "navy", "type": "bar"}},
            # +1: only longs liquidated, -1: only shorts (hydra_liq_is_proxy marks the candle proxy)
            "Liquidation imbalance": {col.LIQ_IMBALANCE: {"color": "darkorange", "type": "bar"}},
            "Volatility": {col.ATR_PCT: {"color": "blue"}, col.RV_RATIO: {"color": "green"}},
            "Liquidation clusters %": {
                col.OPP_LONG_LIQ_DIST_PCT: {"color": "red"},
                col.OPP_SHORT_LIQ_DIST_PCT: {"color": "green"},
            },
            # L2 gate: size multiplier 1 = ALLOW, 0.5 = REDUCE, 0 = BLOCK (hover shows hydra_gate_reason)
            "L2 gate": {col.GATE_SIZE_MULT: {"color": "black"}, col.CASCADE_PROB: {"color": "red"}},
            "Signal": {
                col.DIRECTION: {"color": "teal", "type": "bar"},
                col.CONFIDENCE: {"color": "gray"},
                col.ML_SCORE: {"color": "orange"},  # the scorer's P(profitable) of the winning signal
            },
            # The regime classifier's class probabilities (empty when the rules decide the regime).
            "Regime model": {col.regime_prob_column(r): {"color": c} for r, c in REGIME_COLORS.items()},
        },
    }

    @fail_closed(default=[])
    def plot_annotations(self, pair: str, start_date: datetime, end_date: datetime, dataframe: DataFrame, **kwargs):
        """FreqUI shading: the regime's spans and the kill switch windows covering the pair."""
        return self.hydra.annotations(pair, start_date, end_date, dataframe, REGIME_SHADES)

    def bot_start(self, **kwargs) -> None:
        self.hydra = HydraBridge(self)
        self.hydra.start()

    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        self._refresh_models(current_time)
        self._refresh_intel(current_time)
        self._check_kill_switches(current_time)
        self._announce_news_verdicts(current_time)

    @fail_closed(default=None)
    def _refresh_models(self, current_time: datetime) -> None:
        self.hydra.refresh_models(current_time)

    @fail_closed(default=None)
    def _refresh_intel(self, current_time: datetime) -> None:
        self.hydra.refresh_intel(current_time)

    @fail_closed(default=None)
    def _check_kill_switches(self, current_time: datetime) -> None:
        self.hydra.check_kill_switches(current_time)

    @fail_closed(default=None)
    def _announce_news_verdicts(self, current_time: datetime) -> None:
        self.hydra.announce_news_verdicts(current_time)

    def informative_pairs(self):
        return self.hydra.informative_pairs()

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return self.hydra.populate_indicators(dataframe, metadata)

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return self.hydra.populate_entry_trend(dataframe, metadata)

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    @fail_closed(default=1.0)
    def leverage(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_leverage: float,
        max_leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs,
    ) -> float:
        return self.hydra.leverage(pair, max_leverage, entry_tag, side)

    @fail_closed(default=0.0)
    def custom_stake_amount(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs,
    ) -> float:
        return self.hydra.stake(pair, leverage, min_stake, max_stake, entry_tag, side, current_time)

    @fail_closed(default=False)
    def confirm_trade_entry(
        self,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs,
    ) -> bool:
        return self.hydra.confirm_entry(pair, side, entry_tag, current_time)

    @fail_closed(default=None)
    def order_filled(self, pair: str, trade: Trade, order: Order, current_time: datetime, **kwargs) -> None:
        if order.ft_order_side == trade.entry_side:
            self.hydra.record_entry(trade)

    @fail_closed(default=None)
    def custom_stoploss(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        after_fill: bool,
        **kwargs,
    ) -> float | None:
        return self.hydra.stoploss(trade, current_rate)

    @fail_closed(default=None)
    def custom_exit_price(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        proposed_rate: float,
        current_profit: float,
        exit_tag: str | None,
        **kwargs,
    ) -> float | None:
        return self.hydra.exit_price(trade, proposed_rate, exit_tag)

    @fail_closed(default=None)
    def custom_exit(
        self, pair: str, trade: Trade, current_time: datetime, current_rate: float, current_profit: float, **kwargs
    ) -> str | None:
        return self.hydra.exit(trade, current_time, current_rate)
