"""HYDRA's exception tree.

* HydraError
  x ConfigError         bad "hydra" config: the bot refuses to start
  x IntelUnavailable    a source is down or stale: features marked stale, gates veto entries
  x ModelArtifactError  model missing, hash or feature list mismatch: no new entries
  x LLMGateError        LLM call or parse failed: the gate applies its configured default
  x SnapshotError       the offline market snapshot is missing or malformed
"""


class HydraError(Exception):
    """Base of every error HYDRA raises on purpose."""


class ConfigError(HydraError):
    """The "hydra" config section is invalid; the bot must not start."""


class IntelUnavailable(HydraError):  # noqa: N818 (the name says what happened, as in STYLE.md)
    """A market-intel source is down, malformed or stale.

    ``retryable`` says whether the same call may succeed after a backoff; ``retry_after_s`` carries
    the server's own hint when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after_s: float | None = None,
        status: int | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.status = status
        self.unreachable = unreachable  # no answer at all (timeout, refused, dropped): the host, not the call


class ModelArtifactError(HydraError):
    """A model file is missing or fails its checks."""


class LLMGateError(HydraError):
    """The LLM news analyst failed to answer usably."""


class SnapshotError(HydraError):
    """The offline market snapshot is missing or malformed."""


class BacktestError(HydraError):
    """A ``freqtrade backtesting`` run that HYDRA started (the walk-forward backtest) failed."""
