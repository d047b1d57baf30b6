"""The ``anthropic`` provider: the Messages API with one forced tool whose input is the answer.

The tool's ``input_schema`` is :func:`llm.answer_schema` (topic ids an ``enum`` of the owner's),
``tool_choice`` forces the model to call it, so the answer arrives as the tool's input; a text
block holding JSON is accepted too (some proxies flatten tool calls). Either is validated again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anthropic
from pydantic import SecretStr

from docuvault.classifier.providers import llm
from docuvault.classifier.providers.base import ANTHROPIC, ProviderError, Topic, Verdict
from docuvault.classifier.providers.learned import Examples


class AnthropicProvider:
    name = ANTHROPIC

    def __init__(
        self,
        *,
        api_key: SecretStr,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key.get_secret_value(),
            base_url=base_url,
            timeout=timeout_s,
            max_retries=max_retries,
        )

    async def close(self) -> None:
        await self._client.close()

    async def classify(
        self,
        text: str,
        topics: Sequence[Topic],
        *,
        system_prompt: str | None,
        examples: Examples | None = None,  # the model is told the topics; it needs no examples
    ) -> Verdict:
        if not topics:  # nothing the answer could name: no call, nothing paid
            return Verdict({}, self.model)
        nonce = llm.new_nonce()
        tool: Any = {
            "name": llm.TOOL_NAME,
            "description": "Record the confidence of each of the user's topics for the document.",
            "input_schema": llm.answer_schema(topics),
        }
        try:
            message = await self._client.messages.create(
                model=self.model,
                max_tokens=llm.MAX_OUTPUT_TOKENS,
                system=llm.system_text(system_prompt, nonce),
                messages=[{"role": "user", "content": llm.user_text(text, topics, nonce)}],
                tools=[tool],
                tool_choice={"type": "tool", "name": llm.TOOL_NAME},
            )
        except anthropic.APIError as exc:
            raise _mapped(exc) from exc
        for block in message.content:
            if block.type == "tool_use" and block.name == llm.TOOL_NAME:
                return llm.parse_answer(block.input, topics, message.model or self.model)
        for block in message.content:
            if block.type == "text":
                return llm.parse_answer(block.text, topics, message.model or self.model)
        raise ProviderError("invalid_response", "the reply has neither the tool call nor text")


def _mapped(exc: anthropic.APIError) -> ProviderError:
    """The SDK's exception after its retries, as a failure reason (no secret in it)."""
    if isinstance(exc, anthropic.APITimeoutError):
        return llm.failure("timeout", "Anthropic did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError):
        return llm.failure("provider_unavailable", "Anthropic could not be reached")
    if isinstance(exc, anthropic.RateLimitError):
        return llm.failure("rate_limited", "Anthropic kept answering 429 (rate limited)")
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        if status >= 500:
            return llm.failure("provider_unavailable", f"Anthropic answered HTTP {status}")
        return llm.failure("provider_rejected", f"Anthropic refused the request: HTTP {status}")
    return llm.failure("invalid_response", f"unreadable reply ({type(exc).__name__})")
