from docuvault.classifier import api
from docuvault.classifier.config import ClassifierSettings
from docuvault.runtime.main import run_service


def main() -> None:
    run_service("classifier", ClassifierSettings, api.create, lambda s: s.classifier_port)


if __name__ == "__main__":
    main()
