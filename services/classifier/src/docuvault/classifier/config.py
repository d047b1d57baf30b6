"""Classifier settings (DESIGN §6)."""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from docuvault.classifier.providers.base import ANTHROPIC, KNOWN, LOCAL, OPENAI, OPENAI_COMPATIBLE
from docuvault.runtime.settings import CommonSettings

#: the setting each LLM provider cannot work without
_NEEDED_BY = {
    "anthropic_api_key": ANTHROPIC,
    "openai_api_key": OPENAI,
    "openai_compatible_base_url": OPENAI_COMPATIBLE,
}


class ClassifierSettings(CommonSettings):
    classifier_port: int = Field(default=8004, ge=1, le=65535)
    #: comma-separated providers owners may choose (the catalog reads the same variable)
    classifier_providers: str = LOCAL
    #: the provider of owners who chose none; one of the enabled providers
    classifier_provider: str = LOCAL
    #: deployment default; each owner's settings may override it
    apply_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    #: characters of a document's text a provider sees (a longer text keeps its beginning and end)
    classifier_max_chars: int = Field(default=100_000, ge=1_000, le=10_000_000)

    # --- LLM providers (required only when the provider is enabled) -------------------------
    anthropic_api_key: SecretStr | None = Field(default=None, validate_default=True)
    anthropic_model: str = "claude-haiku-4-5"
    #: None: the SDK's default endpoint (api.anthropic.com)
    anthropic_base_url: str | None = None
    openai_api_key: SecretStr | None = Field(default=None, validate_default=True)
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str | None = None
    #: an OpenAI-compatible server: LM Studio, Ollama, vLLM, llama.cpp (e.g. http://127.0.0.1:1234/v1)
    openai_compatible_base_url: str | None = Field(default=None, validate_default=True)
    openai_compatible_model: str = "local-model"
    #: most local servers want none; some proxies do
    openai_compatible_api_key: SecretStr | None = None
    #: seconds one request to an LLM may take (each attempt)
    llm_timeout_s: float = Field(default=60.0, gt=0.0, le=600.0)
    #: retries after a 429 (honouring Retry-After), a 5xx, a timeout or a lost connection
    llm_max_retries: int = Field(default=2, ge=0, le=10)

    @field_validator("classifier_providers")
    @classmethod
    def _known_providers(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        if not names:
            raise ValueError("name at least one provider")
        unknown = [n for n in names if n not in KNOWN]
        if unknown:
            raise ValueError(f"unknown provider {unknown[0]!r}; known: {', '.join(KNOWN)}")
        return ",".join(dict.fromkeys(names))

    @field_validator("classifier_provider")
    @classmethod
    def _enabled_default(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        enabled = info.data.get("classifier_providers")
        if enabled is not None and value not in enabled.split(","):
            raise ValueError(f"{value!r} is not among the enabled providers ({enabled})")
        return value

    @field_validator("anthropic_api_key", "openai_api_key", "openai_compatible_base_url")
    @classmethod
    def _required_when_enabled(cls, value: object, info: ValidationInfo) -> object:
        """An enabled LLM provider without its key (or base URL) would fail every document;
        stop at start instead, naming the missing setting."""
        provider = _NEEDED_BY[info.field_name or ""]
        enabled = (info.data.get("classifier_providers") or "").split(",")
        if provider in enabled and not value:
            raise ValueError(f"required when the {provider} provider is enabled")
        return value

    @property
    def enabled_providers(self) -> frozenset[str]:
        return frozenset(self.classifier_providers.split(","))
