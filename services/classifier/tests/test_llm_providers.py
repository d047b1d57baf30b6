"""The real ``anthropic`` and ``openai`` SDKs against a local server speaking their protocols.

Each case runs for both providers: a good reply, malformed JSON, unknown topic ids, 429 with
Retry-After (honoured, then success; or kept up, then ``rate_limited``), 500, a timeout.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from docuvault.classifier.providers import llm
from docuvault.classifier.providers.anthropic_messages import AnthropicProvider
from docuvault.classifier.providers.base import ProviderError, Topic
from docuvault.classifier.providers.openai_chat import OpenAIProvider

KEY = "sk-test-do-not-log-4f1c2a"
BIRDS = Topic(uuid.uuid4(), "Birds", "Birdwatching: birds, nests and migration.")
BOATS = Topic(uuid.uuid4(), "Boats", "Sailing and boats: yachts and harbours.")
TOPICS = [BIRDS, BOATS]
TEXT = "We counted sparrows and two herons by the lake."
TIMEOUT_S = 0.5


def anthropic_body(answer: Any) -> dict[str, Any]:
    block = (
        {"type": "text", "text": answer}
        if isinstance(answer, str)
        else {"type": "tool_use", "id": "toolu_1", "name": llm.TOOL_NAME, "input": answer}
    )
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [block],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


def openai_body(answer: Any) -> dict[str, Any]:
    content = answer if isinstance(answer, str) else json.dumps(answer)
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


Body = Callable[[Any], dict[str, Any]]
Flavour = tuple[AnthropicProvider | OpenAIProvider, Body, str]


@pytest.fixture(params=["anthropic", "openai"])
async def flavour(request: pytest.FixtureRequest, fake_llm: Any) -> AsyncIterator[Flavour]:
    """A provider built on the real SDK pointed at the fake server, its reply body, its path."""
    provider, body, path = built(request.param, fake_llm.base_url)
    yield provider, body, path
    await provider.close()


def built(kind: str, base_url: str) -> Flavour:
    if kind == "anthropic":
        anthropic = AnthropicProvider(
            api_key=SecretStr(KEY),
            model="claude-test",
            base_url=base_url,
            timeout_s=TIMEOUT_S,
            max_retries=1,
        )
        return anthropic, anthropic_body, "/v1/messages"
    openai = OpenAIProvider(
        api_key=SecretStr(KEY),
        model="gpt-test",
        base_url=base_url + "/v1",
        timeout_s=TIMEOUT_S,
        max_retries=1,
    )
    return openai, openai_body, "/v1/chat/completions"


def scores(*pairs: tuple[object, float]) -> dict[str, Any]:
    return {
        "topics": [{"topic_id": str(t), "confidence": c} for t, c in pairs],
        "suggested_new_topics": [],
    }


async def test_good_reply(fake_llm: Any, flavour: Flavour) -> None:
    provider, body, path = flavour
    fake_llm.script = [fake_llm.Reply(body=body(scores((BIRDS.topic_id, 0.92))))]
    verdict = await provider.classify(TEXT, TOPICS, system_prompt="Be terse.")
    assert verdict.confidences == {BIRDS.topic_id: 0.92}
    assert verdict.model in {"claude-test", "gpt-test"}
    [seen] = fake_llm.seen
    assert seen.path == path
    sent = str(seen.body)
    assert "Be terse." in sent
    assert TEXT in sent
    assert str(BOATS.topic_id) in sent  # the schema lists the owner's ids


async def test_malformed_json_is_invalid_response(fake_llm: Any, flavour: Flavour) -> None:
    provider, body, _ = flavour
    fake_llm.script = [fake_llm.Reply(body=body('{"topics": [{"topic_id": '))]
    with pytest.raises(ProviderError) as caught:
        await provider.classify(TEXT, TOPICS, system_prompt=None)
    assert caught.value.reason == "invalid_response"
    assert "not the expected JSON" in caught.value.detail


async def test_wrong_shape_is_invalid_response(fake_llm: Any, flavour: Flavour) -> None:
    provider, body, _ = flavour
    fake_llm.script = [fake_llm.Reply(body=body({"topics": "birds, obviously"}))]
    with pytest.raises(ProviderError) as caught:
        await provider.classify(TEXT, TOPICS, system_prompt=None)
    assert caught.value.reason == "invalid_response"


async def test_unknown_topic_ids_are_dropped(fake_llm: Any, flavour: Flavour) -> None:
    provider, body, _ = flavour
    answer = scores((uuid.uuid4(), 0.99), ("politics", 0.9), (BOATS.topic_id, 0.7))
    fake_llm.script = [fake_llm.Reply(body=body(answer))]
    verdict = await provider.classify(TEXT, TOPICS, system_prompt=None)
    assert verdict.confidences == {BOATS.topic_id: 0.7}


async def test_429_retry_after_is_honoured(fake_llm: Any, flavour: Flavour) -> None:
    provider, body, _ = flavour
    fake_llm.script = [
        fake_llm.Reply(429, {"error": {"type": "rate_limit_error"}}, {"retry-after": "1"}),
        fake_llm.Reply(body=body(scores((BIRDS.topic_id, 0.8)))),
    ]
    verdict = await provider.classify(TEXT, TOPICS, system_prompt=None)
    assert verdict.confidences == {BIRDS.topic_id: 0.8}
    first, second = fake_llm.seen
    assert second.at - first.at >= 0.9  # waited as told, not the SDK's shorter backoff


async def test_429_past_the_retries_is_rate_limited(fake_llm: Any, flavour: Flavour) -> None:
    provider, _, _ = flavour
    fake_llm.script = [fake_llm.Reply(429, {"error": {}}, {"retry-after": "0.1"})]
    with pytest.raises(ProviderError) as caught:
        await provider.classify(TEXT, TOPICS, system_prompt=None)
    assert caught.value.reason == "rate_limited"
    assert "retryable" in caught.value.detail
    assert len(fake_llm.seen) == 2  # one try and max_retries=1 retry


async def test_500_is_retried_then_unavailable(fake_llm: Any, flavour: Flavour) -> None:
    provider, body, _ = flavour
    fake_llm.script = [fake_llm.Reply(500, {"error": {"type": "api_error"}})]
    with pytest.raises(ProviderError) as caught:
        await provider.classify(TEXT, TOPICS, system_prompt=None)
    assert (caught.value.reason, len(fake_llm.seen)) == ("provider_unavailable", 2)
    assert "HTTP 500" in caught.value.detail
    fake_llm.reset()
    fake_llm.script = [
        fake_llm.Reply(503, {"error": {}}),
        fake_llm.Reply(body=body(scores((BOATS.topic_id, 0.6)))),
    ]
    verdict = await provider.classify(TEXT, TOPICS, system_prompt=None)
    assert verdict.confidences == {BOATS.topic_id: 0.6}  # one 5xx, then the retry answered


async def test_timeout_fails_with_reason(fake_llm: Any, flavour: Flavour) -> None:
    provider, body, _ = flavour
    slow = body(scores((BIRDS.topic_id, 0.9)))
    fake_llm.script = [fake_llm.Reply(body=slow, delay_s=TIMEOUT_S * 3)]
    with pytest.raises(ProviderError) as caught:
        await provider.classify(TEXT, TOPICS, system_prompt=None)
    assert caught.value.reason == "timeout"
    assert len(fake_llm.seen) == 2


async def test_bad_key_is_rejected_not_retried(fake_llm: Any, flavour: Flavour) -> None:
    provider, _, _ = flavour
    fake_llm.script = [fake_llm.Reply(401, {"error": {"type": "authentication_error"}})]
    with pytest.raises(ProviderError) as caught:
        await provider.classify(TEXT, TOPICS, system_prompt=None)
    assert (caught.value.reason, len(fake_llm.seen)) == ("provider_rejected", 1)


async def test_api_key_is_sent_but_never_logged(
    fake_llm: Any, flavour: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    provider, body, _ = flavour
    fake_llm.script = [
        fake_llm.Reply(500, {"error": {}}),
        fake_llm.Reply(body=body(scores((uuid.uuid4(), 0.9)))),
    ]
    with caplog.at_level(logging.DEBUG):
        await provider.classify(TEXT, TOPICS, system_prompt=None)
    assert any(KEY in str(seen.headers) for seen in fake_llm.seen)
    assert caplog.records  # the SDK's debug logging and our warning did run
    assert all(KEY not in record.getMessage() for record in caplog.records)


async def test_no_topics_means_no_call(fake_llm: Any, flavour: Flavour) -> None:
    provider, _, _ = flavour
    verdict = await provider.classify(TEXT, [], system_prompt=None)
    assert (verdict.confidences, fake_llm.seen) == ({}, [])


async def test_compatible_server_without_json_schema_gets_json_mode(fake_llm: Any) -> None:
    provider = OpenAIProvider(
        name="openai-compatible",
        api_key=None,
        model="llama",
        base_url=fake_llm.base_url + "/v1",
        timeout_s=TIMEOUT_S,
        max_retries=0,
        json_mode_fallback=True,
    )
    good = openai_body(scores((BIRDS.topic_id, 0.75)))

    def server(seen: Any) -> Any:
        kind = seen.body["response_format"]["type"]
        if kind == "json_schema":
            return fake_llm.Reply(400, {"error": {"message": "response_format not supported"}})
        return fake_llm.Reply(body=good)

    fake_llm.respond = server
    for _ in range(2):
        verdict = await provider.classify(TEXT, TOPICS, system_prompt=None)
        assert verdict.confidences == {BIRDS.topic_id: 0.75}
    kinds = [s.body["response_format"]["type"] for s in fake_llm.seen]
    assert kinds == ["json_schema", "json_object", "json_object"]  # remembered
    assert str(BIRDS.topic_id) in fake_llm.seen[1].body["messages"][0]["content"]
    await provider.close()
