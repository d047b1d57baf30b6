"""The ``openai`` and ``openai-compatible`` providers: Chat Completions with structured output.

``response_format`` is a strict JSON schema (:func:`llm.answer_schema`, topic ids an ``enum`` of
the owner's). An OpenAI-compatible server (LM Studio, Ollama, vLLM, llama.cpp) that rejects
``json_schema`` with a 400 is asked again in JSON mode (``json_object``, the schema then stated
in the prompt), and that server is remembered as JSON-mode only. Either answer is validated again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import openai
from pydantic import SecretStr

from docuvault.classifier.providers import llm
from docuvault.classifier.providers.base import OPENAI, ProviderError, Topic, Verdict
from docuvault.classifier.providers.learned import Examples

#: sent to a server that wants no key (LM Studio, Ollama); the SDK insists on having one
NO_KEY = "not-needed"


class OpenAIProvider:
    def __init__(
        self,
        *,
        name: str = OPENAI,
        api_key: SecretStr | None,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        json_mode_fallback: bool = False,
    ) -> None:
        self.name = name
        self.model = model
        self._fallback = json_mode_fallback
        self._json_mode_only = False
        self._client = openai.AsyncOpenAI(
            api_key=api_key.get_secret_value() if api_key else NO_KEY,
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
        schema = llm.answer_schema(topics)
        system = llm.system_text(system_prompt, nonce)
        user = llm.user_text(text, topics, nonce)
        try:
            if not self._json_mode_only:
                try:
                    return await self._ask(system, user, topics, _strict(schema))
                except openai.BadRequestError:
                    if not self._fallback:
                        raise
                    self._json_mode_only = True
            system += "\n\nAnswer with one JSON object of this JSON schema:\n" + json.dumps(schema)
            return await self._ask(system, user, topics, {"type": "json_object"})
        except openai.APIError as exc:
            raise self._mapped(exc) from exc

    async def _ask(
        self, system: str, user: str, topics: Sequence[Topic], response_format: Any
    ) -> Verdict:
        # OpenAI's newer models take only max_completion_tokens and their default temperature;
        # local servers mostly know max_tokens, and answer more steadily at temperature 0.
        limits: Any = (
            {"max_completion_tokens": llm.MAX_OUTPUT_TOKENS}
            if self.name == OPENAI
            else {"max_tokens": llm.MAX_OUTPUT_TOKENS, "temperature": 0.0}
        )
        completion = await self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            response_format=response_format,
            **limits,
        )
        if not completion.choices:
            raise ProviderError("invalid_response", "the reply has no choices")
        message = completion.choices[0].message
        if getattr(message, "refusal", None):
            raise ProviderError("invalid_response", "the model refused to classify")
        if not message.content:
            raise ProviderError("invalid_response", "the reply has no content")
        return llm.parse_answer(message.content, topics, completion.model or self.model)

    def _mapped(self, exc: openai.APIError) -> ProviderError:
        """The SDK's exception after its retries, as a failure reason (no secret in it)."""
        who = "OpenAI" if self.name == OPENAI else "the OpenAI-compatible server"
        if isinstance(exc, openai.APITimeoutError):
            return llm.failure("timeout", f"{who} did not answer in time")
        if isinstance(exc, openai.APIConnectionError):
            return llm.failure("provider_unavailable", f"{who} could not be reached")
        if isinstance(exc, openai.RateLimitError):
            return llm.failure("rate_limited", f"{who} kept answering 429 (rate limited)")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status >= 500:
                return llm.failure("provider_unavailable", f"{who} answered HTTP {status}")
            return llm.failure("provider_rejected", f"{who} refused the request: HTTP {status}")
        return llm.failure("invalid_response", f"{who}'s reply could not be read")


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": "classification", "strict": True, "schema": schema},
    }
