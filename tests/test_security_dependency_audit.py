"""``make audit``'s verdicts: a known vulnerability fails unless a note with a reason waives it,
and an unreachable vulnerability source fails loudly instead of passing."""

from pathlib import Path

import httpx
import pytest

from docuvault.devstack import audit
from docuvault.devstack.audit import Advisory, Finding

ADVISORY = Advisory("GHSA-test-0000-0000", ("CVE-2099-0001",), ("2.0",), "a test advisory")


def _findings(*advisories: Advisory, coverage: str = "exact") -> list[Finding]:
    return [Finding("somepkg", "1.0", coverage, latest="1.0", advisories=list(advisories))]


def test_a_known_vulnerability_fails_the_audit(capsys: pytest.CaptureFixture[str]) -> None:
    assert audit.report("osv", _findings(ADVISORY), {}, require_exact=False) == 1
    assert "AUDIT FAILED" in capsys.readouterr().err


def test_a_note_with_a_reason_waives_it_by_id_or_alias() -> None:
    reason = "only the Windows build is affected; we run on Linux"
    for vuln_id in ("GHSA-test-0000-0000", "CVE-2099-0001"):
        ignores = {vuln_id: reason}
        assert audit.report("osv", _findings(ADVISORY), ignores, require_exact=False) == 0


def test_a_note_without_a_reason_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "audit-ignore.toml"
    notes.write_text('[ignore]\n"GHSA-test-0000-0000" = ""\n')
    with pytest.raises(SystemExit, match="needs a reason"):
        audit.load_ignores(notes)


def test_partial_coverage_is_reported_and_fails_when_exactness_is_required(
    capsys: pytest.CaptureFixture[str],
) -> None:
    partial = _findings(coverage="latest-only")
    assert audit.report("pypi-project", partial, {}, require_exact=False) == 0
    assert "COVERAGE WARNING" in capsys.readouterr().err
    assert audit.report("pypi-project", partial, {}, require_exact=True) == 1


async def test_no_reachable_source_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    # nothing listens on port 1: every source fails to connect, as on a machine offline
    monkeypatch.setattr(audit, "OSV", "http://127.0.0.1:1/v1/querybatch")
    monkeypatch.setattr(audit, "PYPI", "http://127.0.0.1:1/pypi")
    with pytest.raises(audit.SourceUnreachable, match="no vulnerability source answered"):
        await audit.audit([("idna", "3.7")])


def test_main_exits_2_without_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(audit, "OSV", "http://127.0.0.1:1/v1/querybatch")
    monkeypatch.setattr(audit, "PYPI", "http://127.0.0.1:1/pypi")
    assert audit.main([]) == 2
    assert "NO VULNERABILITY DATA" in capsys.readouterr().err


def test_the_lock_file_export_lists_pinned_packages() -> None:
    packages = dict(audit.locked_packages())
    assert "httpx" in packages
    assert all(version[0].isdigit() for version in packages.values())
    assert httpx.__version__ == packages["httpx"]
