"""Where the news analyst's questions go: Anthropic's Messages API, or an OpenAI-compatible server.

Both force one tool call, the verdict (``news_verdict.py``), and hand back its input and the token
usage; both raise ``LLMGateError`` naming what failed, never the key. Anthropic goes through its
official SDK, which retries 429, 5xx and timeouts itself. The OpenAI-compatible endpoint (Ollama,
vLLM, LM Studio or a hosted one: ``POST {base}/chat/completions`` with ``tools`` and ``tool_choice``)
goes through ``httpx`` with the same retries done here: exponential backoff, the server's
``Retry-After`` honoured.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from hydra_plugins.alpha.news_verdict import TOOL_NAME, verdict_tool
from hydra_plugins.core.config import NewsAnalystConfig
from hydra_plugins.core.errors import LLMGateError

if TYPE_CHECKING:  # the SDK takes a second to import: only a bot whose analyst calls Anthropic pays for it
    import anthropic


@dataclass(frozen=True)
class Answer:
    """What a backend got back: the verdict tool's input (None when the model did not call it) and usage."""

    tool_input: Any
    stop_reason: str
    input_tokens: int
    output_tokens: int


class Backend(Protocol):
    """Asks a model for the verdict tool's input; raises LLMGateError naming what failed (never the key)."""

    def ask(self, model: str, max_tokens: int, system: str, user: str) -> Answer: ...


ANTHROPIC_URL = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-sonnet-4-6"  # LLM_MODEL overrides it; claude-sonnet-4-5 reaches end of life 2026-11-30


class AnthropicBackend:
    """The Messages API through the official SDK, the verdict tool forced; the SDK does the retries."""

    def __init__(self, client: anthropic.Anthropic | None = None, *, timeout_s: float = 30.0, retries: int = 2) -> None:
        # The SDK reads ANTHROPIC_API_KEY itself; an empty ANTHROPIC_BASE_URL (a blank .env line) means the default.
        import anthropic

        base_url = os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_URL
        self.client = client or anthropic.Anthropic(base_url=base_url, max_retries=retries, timeout=timeout_s)

    def ask(self, model: str, max_tokens: int, system: str, user: str) -> Answer:
        import anthropic

        try:
            message = self.client.messages.create(
                model=model,
                max_tokens=max_tokens,
                system=system,
                messages=[{"role": "user", "content": user}],
                tools=[verdict_tool()],
                tool_choice={"type": "tool", "name": TOOL_NAME},
            )
        except anthropic.APIError as exc:
            status = getattr(exc, "status_code", None)
            raise LLMGateError(
                f"LLM call failed: {type(exc).__name__}{f' (HTTP {status})' if status else ''}"
            ) from None
        block = next((b for b in message.content if b.type == "tool_use" and b.name == TOOL_NAME), None)
        return Answer(
            None if block is None else block.input,
            str(message.stop_reason),
            message.usage.input_tokens,
            message.usage.output_tokens,
        )


class OpenAICompatibleBackend:
    """``POST {base}/chat/completions`` with the verdict as the one function the model must call."""

    def __init__(
        self, http: httpx.Client, base_url: str, api_key: str = "", *, timeout_s: float = 30.0, retries: int = 2
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.timeout_s = timeout_s
        self.retries = retries

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatibleBackend({self.base_url!r})"

    def ask(self, model: str, max_tokens: int, system: str, user: str) -> Answer:
        tool = verdict_tool()
        body = {
            "model": model,
            "max_tokens": max_tokens,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": tool["name"], "description": tool["description"],
                                 "parameters": tool["input_schema"]},
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": TOOL_NAME}},
        }  # fmt: skip
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        payload = self._post(body, headers)
        try:
            choice = payload["choices"][0]
            calls = (choice.get("message") or {}).get("tool_calls") or []
            call = next(
                (c for c in calls if isinstance(c, dict) and (c.get("function") or {}).get("name") == TOOL_NAME), None
            )
            arguments = None if call is None else json.loads(call["function"]["arguments"])
            usage = payload.get("usage") or {}
            return Answer(
                arguments,
                str(choice.get("finish_reason")),
                int(usage.get("prompt_tokens") or 0),
                int(usage.get("completion_tokens") or 0),
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise LLMGateError(f"LLM answer not in the chat-completions shape: {type(exc).__name__}") from None

    def _post(self, body: dict[str, Any], headers: dict[str, str]) -> Any:
        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.http.post(url, json=body, headers=headers, timeout=self.timeout_s)
            except httpx.HTTPError as exc:
                if last or not isinstance(exc, httpx.TimeoutException | httpx.NetworkError):
                    raise LLMGateError(f"LLM call failed: {type(exc).__name__}") from None
                time.sleep(min(8.0, 0.5 * 2**attempt))
                continue
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    raise LLMGateError("LLM answer is not JSON") from None
            retryable = response.status_code == 429 or response.status_code >= 500
            if last or not retryable:
                raise LLMGateError(f"LLM call failed: HTTP {response.status_code}")
            hint = response.headers.get("retry-after", "")
            wait = float(hint) if hint.replace(".", "", 1).isdigit() else 0.5 * 2**attempt
            time.sleep(min(wait, 30.0))  # a longer wait is the next pass's business
        raise LLMGateError("LLM call failed")  # not reached: the last attempt returns or raises


def make_backend(cfg: NewsAnalystConfig) -> Backend:
    """The configured endpoint: Anthropic's Messages API, or an OpenAI-compatible server (a local model)."""
    if cfg.endpoint == "openai_compatible":
        return OpenAICompatibleBackend(
            httpx.Client(headers={"User-Agent": "hydra-plugins"}),
            os.environ.get("OPENAI_BASE_URL") or cfg.openai_base_url,
            os.environ.get("OPENAI_API_KEY", ""),
            timeout_s=cfg.timeout_s,
            retries=cfg.max_retries,
        )
    return AnthropicBackend(timeout_s=cfg.timeout_s, retries=cfg.max_retries)
