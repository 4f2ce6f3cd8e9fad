"""The LLM news analyst: one request per pair (Anthropic or an OpenAI-compatible server), a verdict or a default.

For a pair it builds the prompt (``news_prompt.py``), and then, in order:

1. an identical prompt already answered (same hash, same model) is answered from the journal, unpaid;
2. the rate limit (``calls_per_hour``) and the daily token budget are checked; when reached, the pair
   gets the configured failure default and the log says which limit;
3. the backend (``llm_backends.py``) is asked with the verdict tool forced; 429, 5xx and timeouts are
   retried ``max_retries`` times with backoff; what still fails, a refusal, an answer without the
   tool call or one outside the schema is logged and journaled, and the pair gets the failure
   default (``neutral`` unless configured ``hold``). Nothing raises into the caller.

A verdict is known when the answer arrived (``now`` plus the call's latency) and expires
``verdict_ttl_minutes`` later. Every request and verdict goes into the journal; the key is the SDK's
business (``ANTHROPIC_API_KEY``) and never appears in a log, an error or the journal.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from hydra_plugins.alpha.llm_backends import DEFAULT_MODEL, Backend, make_backend
from hydra_plugins.alpha.news_prompt import MarketContext, build_prompt
from hydra_plugins.alpha.news_verdict import Verdict, default_verdict, parse_verdict
from hydra_plugins.alpha.verdict_journal import VerdictJournal, day_start
from hydra_plugins.core.config import NewsAnalystConfig
from hydra_plugins.core.errors import LLMGateError
from hydra_plugins.intel.news import NewsArticle

logger = logging.getLogger(__name__)


class NewsAnalyst:
    """Asks the model for one pair's verdict; journals everything; never raises on the model's account."""

    def __init__(
        self,
        cfg: NewsAnalystConfig,
        journal: VerdictJournal,
        backend: Backend | None = None,
        model: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.journal = journal
        self.model = model or os.environ.get("LLM_MODEL") or DEFAULT_MODEL
        self.backend = backend or make_backend(cfg)

    @property
    def ttl(self) -> timedelta:
        return timedelta(minutes=self.cfg.verdict_ttl_minutes)

    def analyse(self, base: str, context: MarketContext, articles: Sequence[NewsArticle], now: datetime) -> Verdict:
        """The pair's verdict at ``now`` from ``articles`` (the newest first, known by ``now``)."""
        articles = list(articles)[: self.cfg.max_articles]
        if not articles:
            verdict = default_verdict(base, "neutral", "no recent news on the pair", now, self.ttl)
            self.journal.record_verdict(verdict, prompt_hash=None, model=None)
            return verdict
        system, user, digest = build_prompt(context, articles)
        shown = [a.key for a in articles]
        cached = self.journal.cached_answer(digest, self.model)
        if cached is not None:
            verdict = parse_verdict(cached, base, shown, now, self.ttl, source="cache")
            self._request(digest, base, now, status="cached", cost=0.0)
            self.journal.record_verdict(verdict, prompt_hash=digest, model=self.model)
            return verdict
        limit = self._over_limit(now)
        if limit is not None:
            return self._fail(base, limit, now, digest, record=False)
        started = time.monotonic()
        try:
            reply = self.backend.ask(self.model, self.cfg.max_tokens, system, user)
        except Exception as exc:  # LLMGateError, or anything a backend did not foresee (e.g. no API key)
            latency_ms = _ms_since(started)
            why = str(exc) if isinstance(exc, LLMGateError) else f"LLM call failed: {type(exc).__name__}"
            return self._fail(base, why, now + timedelta(milliseconds=latency_ms), digest, latency_ms=latency_ms)
        latency_ms = _ms_since(started)
        arrived = now + timedelta(milliseconds=latency_ms)
        tokens_in, tokens_out = reply.input_tokens, reply.output_tokens
        cost = (tokens_in * self.cfg.usd_per_mtok_input + tokens_out * self.cfg.usd_per_mtok_output) / 1e6
        try:
            if reply.tool_input is None:
                raise ValueError(f"no verdict in the answer (stop_reason {reply.stop_reason})")
            raw: dict[str, Any] = dict(reply.tool_input) if isinstance(reply.tool_input, dict) else {}
            verdict = parse_verdict(raw if raw else reply.tool_input, base, shown, arrived, self.ttl)
        except (ValueError, TypeError, AttributeError) as exc:
            return self._fail(
                base, str(exc), arrived, digest, latency_ms=latency_ms, tokens=(tokens_in, tokens_out), cost=cost
            )
        self._request(digest, base, now, status="ok", latency_ms=latency_ms, tokens=(tokens_in, tokens_out),
                      cost=cost, answer=raw)  # fmt: skip
        self.journal.record_verdict(verdict, prompt_hash=digest, model=self.model)
        logger.info(
            "HYDRA analyst %s: %s (%.2f) %s [%d+%d tokens, %.4f USD, %d ms]",
            base, verdict.action, verdict.confidence, "; ".join(verdict.reasons), tokens_in, tokens_out, cost,
            latency_ms,
        )  # fmt: skip
        return verdict

    def failed(self, base: str, why: str, now: datetime) -> Verdict:
        """The configured default for a pair whose pass failed before the analyst could ask (journaled)."""
        return self._fail(base, why, now, "", record=False)

    def _over_limit(self, now: datetime) -> str | None:
        calls = self.journal.calls_since(now - timedelta(hours=1), until=now)
        if calls >= self.cfg.calls_per_hour:
            return f"rate limit reached: {calls} calls in the last hour (calls_per_hour {self.cfg.calls_per_hour})"
        tokens = self.journal.tokens_since(day_start(now), until=now)
        if tokens >= self.cfg.daily_token_budget:
            budget = self.cfg.daily_token_budget
            return f"daily token budget reached: {tokens} tokens today (daily_token_budget {budget})"
        return None

    def _request(
        self,
        digest: str,
        base: str,
        now: datetime,
        *,
        status: str,
        latency_ms: int | None = None,
        tokens: tuple[int | None, int | None] = (None, None),
        cost: float | None = None,
        error: str | None = None,
        answer: dict[str, Any] | None = None,
    ) -> None:
        self.journal.record_request(
            prompt_hash=digest, base=base, model=self.model, requested_at=now, latency_ms=latency_ms,
            input_tokens=tokens[0], output_tokens=tokens[1], cost_usd=cost, status=status, error=error, answer=answer,
        )  # fmt: skip

    def _fail(
        self,
        base: str,
        why: str,
        now: datetime,
        digest: str,
        *,
        record: bool = True,
        latency_ms: int | None = None,
        tokens: tuple[int | None, int | None] = (None, None),
        cost: float | None = None,
    ) -> Verdict:
        logger.warning("HYDRA analyst %s: %s; the verdict is the default %r", base, why, self.cfg.failure_default)
        if record:
            self._request(digest, base, now, status="error", latency_ms=latency_ms, tokens=tokens, cost=cost, error=why)
        verdict = default_verdict(base, self.cfg.failure_default, why, now, self.ttl)
        self.journal.record_verdict(verdict, prompt_hash=digest, model=self.model)
        return verdict


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
