from docuvault.extractor import api
from docuvault.extractor.config import ExtractorSettings
from docuvault.runtime.main import run_service


def main() -> None:
    run_service("extractor", ExtractorSettings, api.create, lambda s: s.extractor_port)


if __name__ == "__main__":
    main()
