"""HTTP calls to ingest and the catalog, with errors a person can act on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import httpx

from docuvault.cli.config import CliSettings


class CliError(Exception):
    """Printed as one line on stderr; the command exits with status 1."""


class Retryable(CliError):
    """A failure worth another attempt (the server was busy or unreachable)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(answer: httpx.Response) -> float | None:
    value = answer.headers.get("retry-after", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None


class _Counting:
    """A file wrapper that reports how many bytes were read (for the progress bar)."""

    def __init__(self, raw: BinaryIO, advance: Callable[[int], None]) -> None:
        self._raw = raw
        self._advance = advance

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._advance(len(chunk))
        return chunk


class Client:
    def __init__(self, settings: CliSettings) -> None:
        if settings.token is None:
            raise CliError(
                "no token: export DOCUVAULT_TOKEN=$(docuvault token create --owner NAME)"
            )
        headers = {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
        self._ingest = httpx.Client(base_url=settings.ingest_url, headers=headers, timeout=300)
        self._catalog = httpx.Client(base_url=settings.catalog_url, headers=headers, timeout=60)

    def upload(
        self,
        path: Path,
        *,
        auto_classify: bool,
        advance: Callable[[int], None],
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """One file in one request; ``Retryable`` when trying again may help (5xx, 429, network)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        with path.open("rb") as raw:
            # httpx reads the file object in chunks: counting them drives the progress bar
            files = {"file": (path.name, cast(BinaryIO, _Counting(raw, advance)))}
            try:
                answer = self._ingest.post(
                    "/v1/documents",
                    files=files,
                    headers=headers,
                    params={"auto_classify": str(auto_classify).lower()},
                )
            except httpx.HTTPError as exc:
                raise Retryable(f"cannot reach {self._ingest.base_url}: {exc}") from exc
        if answer.status_code == 429 or answer.status_code >= 500:
            raise Retryable(_problem(answer), retry_after=_retry_after(answer))
        if answer.is_error:
            raise CliError(_problem(answer))
        body: dict[str, Any] = answer.json()
        return body

    def document(self, document_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self._call(
            self._catalog, "GET", f"/v1/documents/{document_id}"
        ).json()
        return body

    def search(self, **params: Any) -> Iterator[dict[str, Any]]:
        answer = self._call(self._catalog, "GET", "/v1/documents", params=params)
        yield from answer.json()["items"]

    def topics(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call(self._catalog, "GET", "/v1/topics").json()["items"]
        return items

    def create_topic(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._call(self._catalog, "POST", "/v1/topics", json=body).json()
        return created

    def revoke(self, token_or_jti: str) -> dict[str, Any]:
        """``POST /v1/tokens/revoke`` with the whole token (three dot-separated parts) or a jti."""
        value = token_or_jti.strip()
        body = {"token": value} if value.count(".") == 2 else {"jti": value}
        revoked: dict[str, Any] = self._call(
            self._catalog, "POST", "/v1/tokens/revoke", json=body
        ).json()
        return revoked

    def reprocess(self, body: dict[str, Any]) -> dict[str, Any]:
        """The catalog answers once every matching document has its request (it commits them
        in batches as it goes): a large selection takes a while."""
        answer: dict[str, Any] = self._call(
            self._catalog,
            "POST",
            "/v1/documents/reprocess",
            json=body,
            timeout=httpx.Timeout(60, read=3600),
        ).json()
        return answer

    def _call(self, client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            answer = client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach {client.base_url}: {exc} (is the stack up? try `make up`)"
            ) from exc
        if answer.is_error:
            raise CliError(_problem(answer))
        return answer


def _problem(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        detail = body.get("detail") or body.get("title")
    except ValueError:
        detail = answer.text[:200]
    return f"{answer.status_code}: {detail}"
