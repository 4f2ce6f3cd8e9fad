"""The Anthropic Messages fake answers the real SDK as the API does: tool use, text, refusals, errors, retries."""

import re

import anthropic
import httpx
import pytest
from anthropic.types import Message, TextBlock, ToolUseBlock

from tests.fakes_llm import DEFAULT_VERDICT, MALFORMED_VERDICT, FakeAnthropic

# claude-sonnet-4-5 is the analyst's model; SDK 2.14 warns it reaches end-of-life on 2026-11-30, which is not
# what these tests are about
pytestmark = pytest.mark.filterwarnings("ignore:The model 'claude-sonnet-4-5' is deprecated:DeprecationWarning")

MODEL = "claude-sonnet-4-5"
TOOL = {"name": "record_verdict", "description": "d", "input_schema": {"type": "object", "properties": {}}}
VERDICT = {"action": "long", "confidence": 0.8, "horizon_hours": 12, "reasons": ["ETF inflows"], "article_ids": [7]}


@pytest.fixture
def fake():
    with FakeAnthropic(slow_s=0.8) as server:
        yield server


def client(fake, key="sk-test", max_retries=0, timeout=2.0):
    return anthropic.Anthropic(api_key=key, base_url=fake.url, max_retries=max_retries, timeout=timeout)


def create(fake, messages=None, tools=(TOOL,), tool_choice=None, **kwargs):
    extra = {"tools": list(tools)} if tools else {}
    if tools:
        extra["tool_choice"] = tool_choice or {"type": "tool", "name": "record_verdict"}
    return client(fake, **kwargs).messages.create(
        model=MODEL,
        max_tokens=300,
        system="s",
        messages=messages or [{"role": "user", "content": "hi"}],
        **extra,
    )


def test_a_scripted_verdict_comes_back_as_a_tool_use_block(fake):
    fake.script.append(("verdict", VERDICT))
    message = create(fake)
    assert isinstance(message, Message) and message.stop_reason == "tool_use" and message.role == "assistant"
    assert message.model == MODEL and message.id.startswith("msg_")
    [block] = message.content
    assert isinstance(block, ToolUseBlock) and block.name == "record_verdict" and block.input == VERDICT
    assert block.id.startswith("toolu_")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 10


def test_every_success_body_validates_strictly_as_a_message(fake):
    fake.script.extend(["verdict", ("text", "no tool today"), "refusal", "malformed"])
    for _ in range(4):
        raw = client(fake).messages.with_raw_response.create(
            model=MODEL, max_tokens=300, messages=[{"role": "user", "content": "hi"}], tools=[TOOL]
        )
        assert raw.http_response.headers["request-id"].startswith("req_")
        Message.model_validate(raw.http_response.json())  # pydantic validation, not the SDK's lenient construct


def test_the_bare_verdict_is_the_default_hold_and_names_the_first_tool_without_tool_choice(fake):
    other = {**TOOL, "name": "other"}
    message = client(fake).messages.create(
        model=MODEL, max_tokens=300, messages=[{"role": "user", "content": "hi"}], tools=[other, TOOL]
    )
    assert message.content[0].name == "other" and message.content[0].input == DEFAULT_VERDICT


def test_text_and_refusal_answers_parse_with_their_stop_reasons(fake):
    fake.script.extend([("text", "I think BTC goes up"), "refusal"])
    text = create(fake)
    assert text.stop_reason == "end_turn" and isinstance(text.content[0], TextBlock)
    assert text.content[0].text == "I think BTC goes up"
    refusal = create(fake)
    assert refusal.stop_reason == "refusal" and isinstance(refusal.content[0], TextBlock)


def test_malformed_returns_a_tool_input_that_breaks_the_verdict_schema(fake):
    fake.script.append("malformed")
    assert create(fake).content[0].input == MALFORMED_VERDICT


@pytest.mark.parametrize(
    ("behaviour", "error", "status", "kind"),
    [
        ("429", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("529", anthropic.InternalServerError, 529, "overloaded_error"),
        ("500", anthropic.InternalServerError, 500, "api_error"),
    ],
)
def test_error_behaviours_raise_the_sdk_exceptions(fake, behaviour, error, status, kind):
    fake.script.append(behaviour)
    with pytest.raises(error) as raised:
        create(fake)
    assert raised.value.status_code == status and raised.value.type == kind
    assert raised.value.body["type"] == "error" and raised.value.request_id.startswith("req_")
    assert len(fake.calls) == 1


def test_overloaded_is_the_sdks_overloaded_error(fake):
    fake.script.append("529")
    with pytest.raises(anthropic.OverloadedError):
        create(fake)


def test_a_slow_answer_times_the_client_out(fake):
    fake.script.append("slow")
    with pytest.raises(anthropic.APITimeoutError):
        create(fake, timeout=0.3)


def test_the_sdk_retries_a_429_and_then_succeeds(fake):
    fake.script.extend(["429", ("verdict", VERDICT)])
    message = create(fake, max_retries=2)
    assert message.content[0].input == VERDICT and len(fake.calls) == 2 and not fake.script


def test_a_wrong_key_is_refused_and_leaves_the_script_alone(fake):
    fake.script.append(("verdict", VERDICT))
    with pytest.raises(anthropic.AuthenticationError) as raised:
        create(fake, key="sk-wrong")
    assert raised.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    assert list(fake.script) == [("verdict", VERDICT)]


def test_calls_record_the_request_but_never_the_key(fake):
    create(fake)
    [call] = fake.calls
    assert (
        call.has_api_key
        and call.auth_header == "authorization"
        and re.fullmatch(r"\d{4}-\d\d-\d\d", call.anthropic_version)
    )
    assert call.model == MODEL and call.system == "s" and call.max_tokens == 300
    assert call.tools == [TOOL] and call.tool_choice == {"type": "tool", "name": "record_verdict"}
    assert call.messages == [{"role": "user", "content": "hi"}]
    assert "sk-test" not in repr(call)


def test_last_user_text_reads_strings_and_text_blocks(fake):
    create(fake, messages=[{"role": "user", "content": "first"}])
    assert fake.last_user_text() == "first"
    blocks = [{"type": "text", "text": "headline one"}, {"type": "text", "text": "headline two"}]
    create(fake, messages=[{"role": "user", "content": "old"}, {"role": "assistant", "content": "ok"},
                           {"role": "user", "content": blocks}])  # fmt: skip
    assert fake.last_user_text() == "headline one\nheadline two"


def test_an_unknown_behaviour_is_a_clear_bad_request(fake):
    fake.script.append("verdcit")
    with pytest.raises(anthropic.BadRequestError, match="unknown fake behaviour"):
        create(fake)


def test_the_documented_x_api_key_header_and_version_are_required(fake):
    body = {"model": MODEL, "max_tokens": 300, "messages": [{"role": "user", "content": "hi"}], "tools": [TOOL]}
    headers = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
    answer = httpx.post(fake.url + "/v1/messages", json=body, headers=headers, timeout=2.0)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json()["content"][0]["input"] == DEFAULT_VERDICT
    assert fake.calls[-1].auth_header == "x-api-key" and fake.calls[-1].anthropic_version == "2023-06-01"
    missing = httpx.post(fake.url + "/v1/messages", json=body, headers={"x-api-key": "sk-test"}, timeout=2.0)
    assert missing.status_code == 400 and missing.json()["error"]["type"] == "invalid_request_error"
    no_key = httpx.post(fake.url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}, timeout=2.0)
    assert no_key.status_code == 401 and not fake.calls[-1].has_api_key
    no_tokens = {k: v for k, v in body.items() if k != "max_tokens"}
    bad = httpx.post(fake.url + "/v1/messages", json=no_tokens, headers=headers, timeout=2.0)
    assert bad.status_code == 400 and bad.json()["error"]["message"] == "max_tokens: Field required"
