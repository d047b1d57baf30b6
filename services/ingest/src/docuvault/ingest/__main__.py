from docuvault.ingest import api, bootstrap
from docuvault.ingest.config import IngestSettings
from docuvault.runtime.main import run_service


def main() -> None:
    run_service(
        "ingest",
        IngestSettings,
        api.create,
        lambda s: s.ingest_port,
        migrations=bootstrap.MIGRATIONS,
    )


if __name__ == "__main__":
    main()
