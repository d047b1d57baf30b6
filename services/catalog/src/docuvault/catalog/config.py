"""Catalog settings (DESIGN §6)."""

from pydantic import Field, SecretStr

from docuvault.runtime.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    database_url: SecretStr = SecretStr(
        "postgresql://docuvault_catalog_app@127.0.0.1:5432/docuvault_catalog"
    )
    migration_database_url: SecretStr | None = SecretStr(
        "postgresql://docuvault_catalog_migrator@127.0.0.1:5432/docuvault_catalog"
    )
    catalog_port: int = Field(default=8002, ge=1, le=65535)
    #: enabled providers, comma-separated (shared with the classifier)
    classifier_providers: str = Field(default="local", pattern=r"^[a-z-]+(,[a-z-]+)*$")
    classifier_provider: str = "local"
    apply_threshold: float = Field(default=0.5, ge=0.0, le=1.0)

    @property
    def providers(self) -> list[str]:
        return self.classifier_providers.split(",")
