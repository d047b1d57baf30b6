"""The fault harness's own bookkeeping: which catalog documents no upload explains."""

from docuvault.devstack.faults import Upload, unaccounted


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
