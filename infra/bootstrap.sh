#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian-like machine, and nothing that is present:
# system packages (as root, with apt), uv (from PyPI), then the workspace from uv.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

# what the stack needs from the system, as "package:probe" (a command, or a file glob)
NEEDS=(
  "tesseract-ocr:tesseract"
  "tesseract-ocr-eng:/usr/share/tesseract-ocr/*/tessdata/eng.traineddata"
  "tesseract-ocr-osd:/usr/share/tesseract-ocr/*/tessdata/osd.traineddata"
  "rabbitmq-server:rabbitmq-server"
  "postgresql:pg_ctlcluster"
  "postgresql-client:psql"
  "postgresql-15-rum:/usr/share/postgresql/*/extension/rum.control"
)
missing=()
for need in "${NEEDS[@]}"; do
  pkg=${need%%:*} probe=${need#*:}
  if [[ $probe == /* ]]; then
    compgen -G "$probe" >/dev/null || missing+=("$pkg")
  else
    command -v "$probe" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing system packages: ${missing[*]} (install them, or run as root)" >&2
  fi
fi

if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check uv
  hash -r
fi

export UV_PYTHON_DOWNLOADS=never
uv sync --frozen --quiet
