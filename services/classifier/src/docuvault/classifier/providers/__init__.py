"""Classification providers behind one interface (DESIGN §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docuvault.classifier.providers.anthropic_messages import AnthropicProvider
from docuvault.classifier.providers.base import (
    ANTHROPIC,
    LOCAL,
    OPENAI,
    OPENAI_COMPATIBLE,
    Provider,
)
from docuvault.classifier.providers.local import LocalProvider
from docuvault.classifier.providers.openai_chat import OpenAIProvider

if TYPE_CHECKING:
    from docuvault.classifier.config import ClassifierSettings


def build(settings: ClassifierSettings) -> dict[str, Provider]:
    """One instance of each provider the deployment enables (settings validated their keys)."""
    enabled = settings.enabled_providers
    timeout_s, max_retries = settings.llm_timeout_s, settings.llm_max_retries
    built: dict[str, Provider] = {}
    if LOCAL in enabled:
        built[LOCAL] = LocalProvider()
    if ANTHROPIC in enabled and settings.anthropic_api_key:
        built[ANTHROPIC] = AnthropicProvider(
            api_key=settings.anthropic_api_key,
            model=settings.anthropic_model,
            base_url=settings.anthropic_base_url,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )
    if OPENAI in enabled and settings.openai_api_key:
        built[OPENAI] = OpenAIProvider(
            api_key=settings.openai_api_key,
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )
    if OPENAI_COMPATIBLE in enabled and settings.openai_compatible_base_url:
        built[OPENAI_COMPATIBLE] = OpenAIProvider(
            name=OPENAI_COMPATIBLE,
            api_key=settings.openai_compatible_api_key,
            model=settings.openai_compatible_model,
            base_url=settings.openai_compatible_base_url,
            json_mode_fallback=True,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )
    return built
