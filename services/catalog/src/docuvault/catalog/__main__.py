from docuvault.catalog import api, bootstrap, rebuild
from docuvault.catalog.config import CatalogSettings
from docuvault.runtime.main import run_service


def main() -> None:
    """``python -m docuvault.catalog [serve|migrate|rebuild]``."""
    run_service(
        "catalog",
        CatalogSettings,
        api.create,
        lambda s: s.catalog_port,
        migrations=bootstrap.MIGRATIONS,
        commands={"rebuild": rebuild.main},
    )


if __name__ == "__main__":
    main()
