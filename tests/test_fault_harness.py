"""The fault harness's own bookkeeping: unexplained catalog documents, a quiet pipeline."""

import httpx

from docuvault.devstack.faults import Upload, busy_queues, polite_get, unaccounted


def _uploads() -> list[Upload]:
    return [
        Upload("markA.txt", "markA", "accepted", "doc-a"),
        Upload("markB.pdf", "markB", "unknown"),
        Upload("markC.docx", "markC", "refused"),
    ]


def test_accepted_and_unknown_uploads_explain_their_documents() -> None:
    listed = [
        {"document_id": "doc-a", "filename": "markA.txt"},
        {"document_id": "doc-b", "filename": "markB.pdf"},  # answer lost, document stored
    ]
    assert unaccounted(_uploads(), listed) == []


def test_a_refused_or_foreign_document_is_unaccounted() -> None:
    refused = {"document_id": "doc-c", "filename": "markC.docx"}
    foreign = {"document_id": "doc-x", "filename": "markX.txt"}
    listed = [{"document_id": "doc-a", "filename": "markA.txt"}, refused, foreign]
    assert unaccounted(_uploads(), listed) == [refused, foreign]


def test_only_dead_letter_queues_may_hold_messages_when_the_pipeline_is_quiet() -> None:
    depths = {
        "catalog.projections": (0, 0),
        "catalog.projections.retry.3": (3, 0),  # a projection waiting for its next attempt
        "extractor.documents": (0, 1),
        "classifier.documents.dlq": (2, 0),
    }
    assert busy_queues(depths) == ["catalog.projections.retry.3", "extractor.documents"]
    assert busy_queues({"classifier.documents.dlq": (2, 0)}) == []


async def test_reads_wait_out_the_rate_limit() -> None:
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json={"ok": 1})]
    )
    seen: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return next(answers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as client:
        answer = await polite_get(client, "http://catalog/v1/documents", {"limit": 100})
    assert answer.json() == {"ok": 1}
    assert seen == ["http://catalog/v1/documents?limit=100"] * 2
