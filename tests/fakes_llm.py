"""A loopback fake of Anthropic's Messages API (``POST /v1/messages``), scripted per request.

Tests talk to it through the official ``anthropic`` SDK over a real loopback socket
(``anthropic.Anthropic(api_key="sk-test", base_url=fake.url, max_retries=0)``), so the SDK's own parsing,
error mapping, retries and timeouts are what the code under test meets.

The fake answers as the real API does:

* a request without ``x-api-key: <api_key>`` (the documented header) or ``Authorization: Bearer <api_key>`` (what
  SDK 2.x sends) gets HTTP 401 ``authentication_error`` and leaves the script untouched;
* a request without an ``anthropic-version`` header, or without ``model``, ``max_tokens`` or a non-empty
  ``messages``, gets HTTP 400 ``invalid_request_error``; any other path gets HTTP 404 ``not_found_error``;
* every answer carries a ``request-id`` header, and error bodies carry ``request_id`` beside ``error``.

Each authorised request takes one behaviour from ``script`` (a deque), or ``default`` when it is empty:

* ``"verdict"`` or ``("verdict", dict)``: HTTP 200, one ``tool_use`` block calling the tool named by the
  request's ``tool_choice`` (else its first tool) with the dict (``DEFAULT_VERDICT`` for the bare string);
  a request offering no tools gets the dict as JSON text instead, as a model with no tool would write it
* ``("text", str)``: HTTP 200, one text block, ``stop_reason: "end_turn"`` (a model that ignored the tool)
* ``"refusal"``: HTTP 200, a short text block, ``stop_reason: "refusal"``
* ``"malformed"``: a verdict whose input breaks the verdict schema (``MALFORMED_VERDICT``)
* ``"slow"``: a verdict sent after sleeping ``slow_s`` seconds
* ``"429"`` (with ``retry-after: 0``), ``"529"``, ``"500"``: Anthropic's error bodies for those statuses

Usage is a deterministic estimate: ``input_tokens`` is the request body's length // 4, ``output_tokens`` the
answer's JSON (or text) length // 4 + 10. Every request is kept in ``calls`` as a ``Call``; the key itself is
never stored, only whether the header was present.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes import LoopbackServer, send

MESSAGES_PATH = "/v1/messages"
DEFAULT_VERDICT = {"action": "hold", "confidence": 0.6, "horizon_hours": 4, "reasons": ["mixed news"],
                   "article_ids": []}  # fmt: skip
MALFORMED_VERDICT = {"action": "buy_max_leverage", "confidence": 7}
REFUSAL_TEXT = "I can't help with that request."

# status and Anthropic error type/message per scripted fault; the texts are the real API's
ERRORS = {
    "429": (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    "529": (529, "overloaded_error", "Overloaded"),
    "500": (500, "api_error", "Internal server error"),
}
BEHAVIOURS = ("verdict", "text", "refusal", "malformed", "slow", *ERRORS)


@dataclass(frozen=True)
class Call:
    """One request the fake received: the parsed body's main fields and which headers came with it."""

    model: str | None
    system: Any
    messages: list[dict]
    tools: list[dict] | None
    tool_choice: dict | None
    max_tokens: int | None
    has_api_key: bool
    auth_header: str | None  # "x-api-key", "authorization" (Bearer) or None
    anthropic_version: str | None


class FakeAnthropic(LoopbackServer):
    """A scripted loopback Messages API; see the module docstring for the behaviours."""

    def __init__(self, api_key: str = "sk-test", default: str | tuple = "verdict", slow_s: float = 2.0) -> None:
        super().__init__(_Handler)
        self.api_key = api_key
        self.default = default
        self.slow_s = slow_s
        self.script: deque = deque()
        self.calls: list[Call] = []
        self._count = 0
        self._lock = threading.Lock()

    def next_id(self) -> int:
        """Return a fresh number for message, tool-use and request ids."""
        with self._lock:
            self._count += 1
            return self._count

    def last_user_text(self) -> str:
        """Return the text of the last request's last user message (text blocks joined by newlines)."""
        if not self.calls:
            raise AssertionError("the fake received no request")
        users = [m for m in self.calls[-1].messages if m.get("role") == "user"]
        if not users:
            return ""
        content = users[-1].get("content")
        if isinstance(content, str):
            return content
        return "\n".join(b["text"] for b in content or [] if isinstance(b, dict) and b.get("type") == "text")


def _error(kind: str, message: str, request_id: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def _message(n: int, model: str, content: list[dict], stop_reason: str, input_tokens: int, output_tokens: int):
    return {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def _missing_field(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body: Input should be a valid dictionary"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "messages: Field required"
    return None


class _Handler(BaseHTTPRequestHandler):
    server: FakeAnthropic

    def do_POST(self):
        fake = self.server
        n = fake.next_id()
        request_id = f"req_{n}"
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0] != MESSAGES_PATH:
            self._answer(404, _error("not_found_error", "Not Found", request_id), request_id)
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        fields = body if isinstance(body, dict) else {}
        # the docs name x-api-key; SDK 2.x sends the same key as "Authorization: Bearer <key>"
        bearer = self.headers.get("authorization", "")
        key = self.headers.get("x-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else None)
        auth_header = "x-api-key" if "x-api-key" in self.headers else ("authorization" if bearer else None)
        version = self.headers.get("anthropic-version")
        fake.calls.append(
            Call(
                model=fields.get("model"),
                system=fields.get("system"),
                messages=fields.get("messages") or [],
                tools=fields.get("tools"),
                tool_choice=fields.get("tool_choice"),
                max_tokens=fields.get("max_tokens"),
                has_api_key=key is not None,
                auth_header=auth_header,
                anthropic_version=version,
            )
        )
        if key != fake.api_key:
            self._answer(401, _error("authentication_error", "invalid x-api-key", request_id), request_id)
            return
        problem = "anthropic-version: header is required" if version is None else _missing_field(body)
        if problem:
            self._answer(400, _error("invalid_request_error", problem, request_id), request_id)
            return

        behaviour = fake.script.popleft() if fake.script else fake.default
        name, arg = behaviour if isinstance(behaviour, tuple) else (behaviour, None)
        if name not in BEHAVIOURS:  # a test's typo: fail loudly as a 400 the SDK raises, not a dropped socket
            self._answer(400, _error("invalid_request_error", f"unknown fake behaviour {behaviour!r}", request_id),
                         request_id)  # fmt: skip
            return
        if name in ERRORS:
            status, kind, message = ERRORS[name]
            headers = {"retry-after": "0"} if name == "429" else {}
            self._answer(status, _error(kind, message, request_id), request_id, headers)
            return
        if name == "slow":
            time.sleep(fake.slow_s)
        self._answer(200, self._success(n, name, arg, fields, len(raw)), request_id)

    def _success(self, n, name, arg, body, body_len):
        model = body["model"]
        if name == "text" or name == "refusal":
            text = str(arg) if name == "text" else REFUSAL_TEXT
            block = {"type": "text", "text": text, "citations": None}
            stop = "end_turn" if name == "text" else "refusal"
            return _message(n, model, [block], stop, body_len // 4, len(text) // 4 + 10)
        verdict = MALFORMED_VERDICT if name == "malformed" else (arg if arg is not None else DEFAULT_VERDICT)
        encoded = json.dumps(verdict)
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {}
        tool_name = choice.get("name") or (tools[0].get("name") if tools else None)
        if tool_name is None:
            block = {"type": "text", "text": encoded, "citations": None}
            return _message(n, model, [block], "end_turn", body_len // 4, len(encoded) // 4 + 10)
        block = {"type": "tool_use", "id": f"toolu_{n}", "name": tool_name, "input": verdict}
        return _message(n, model, [block], "tool_use", body_len // 4, len(encoded) // 4 + 10)

    def _answer(self, status, payload, request_id, headers=None):
        headers = {"content-type": "application/json", "request-id": request_id, **(headers or {})}
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up on a "slow" answer
            send(self, status, headers, json.dumps(payload))

    def log_message(self, *args):
        pass


class FakeOpenAI(LoopbackServer):
    """A loopback OpenAI-compatible ``POST /v1/chat/completions`` (as Ollama and vLLM serve it).

    ``script`` behaviours, one per request: ``("verdict", dict)`` (a tool call whose ``arguments`` is the
    dict as a JSON string), ``"text"`` (an answer without a tool call), ``"429"`` (Retry-After: 0),
    ``"500"``, ``"garbage"`` (not JSON); the default is a hold verdict. ``bodies`` keeps each request.
    """

    def __init__(self) -> None:
        super().__init__(_OpenAIHandler)
        self.script: deque = deque()
        self.bodies: list[dict] = []
        self.auth: list[str | None] = []


class _OpenAIHandler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.bodies.append(body)
        self.server.auth.append(self.headers.get("Authorization"))
        behaviour = self.server.script.popleft() if self.server.script else ("verdict", DEFAULT_VERDICT)
        kind, value = behaviour if isinstance(behaviour, tuple) else (behaviour, None)
        if self.path.rstrip("/") != "/v1/chat/completions":
            send(self, 404, {"Content-Type": "application/json"}, json.dumps({"error": {"message": "not found"}}))
            return
        if kind in ("429", "500"):
            headers = {"Content-Type": "application/json", **({"Retry-After": "0"} if kind == "429" else {})}
            send(self, int(kind), headers, json.dumps({"error": {"message": kind, "type": "server_error"}}))
            return
        if kind == "garbage":
            send(self, 200, {"Content-Type": "application/json"}, '{"choices": [')
            return
        message: dict = {"role": "assistant", "content": "I think it goes up."}
        if kind == "verdict":
            call = {
                "id": "call_1",
                "type": "function",
                "function": {"name": body["tool_choice"]["function"]["name"], "arguments": json.dumps(value)},
            }
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls" if kind == "verdict" else "stop"
        answer = {
            "id": "chatcmpl-1", "object": "chat.completion", "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": len(json.dumps(body)) // 4, "completion_tokens": 30, "total_tokens": 0},
        }  # fmt: skip
        send(self, 200, {"Content-Type": "application/json"}, json.dumps(answer))

    def log_message(self, *args):
        pass
