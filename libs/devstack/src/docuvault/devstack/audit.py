"""``make audit``: known vulnerabilities in the locked dependencies (``uv export --frozen``).

Sources, tried in this order; the first one that answers is used:

1. **OSV** (``/v1/querybatch``): every advisory for each locked name and version.
2. **PyPI, per release** (``/pypi/NAME/VERSION/json``, field ``vulnerabilities``): the same data,
   from the registry (what ``pip-audit --vulnerability-service pypi`` reads).
3. **PyPI, per project** (``/pypi/NAME/json``): the advisories of the *latest* release only.
   A package locked at its latest release is checked exactly; one locked behind it is checked
   only for advisories still open in the latest release (assumed to affect the older one too),
   and advisories fixed in between are invisible: the table says so for each such package.

``pip-audit`` is not used as it is: where the per-release endpoint answers 404 it reports
"Dependency not found on PyPI and could not be audited" for every package and still exits 0.

A known vulnerability fails the audit unless ``infra/audit-ignore.toml`` names its id (or one
of its aliases) with a reason. If no source answers, or any package could not be looked up,
the audit fails loudly: it never passes without data. ``--require-exact`` also fails when a
package could only be checked against its latest release.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from docuvault.devstack.config import REPO

OSV = "https://api.osv.dev/v1/querybatch"
PYPI = "https://pypi.org/pypi"
#: the locked third-party packages, one ``name==version ; markers`` a line
EXPORT = (
    "uv",
    "export",
    "--frozen",
    "--all-packages",
    "--all-groups",
    "--no-emit-workspace",
    "--no-hashes",
    "--no-header",
    "--no-annotate",
)
IGNORE_FILE = REPO / "infra" / "audit-ignore.toml"
TIMEOUT_S = 20.0
PARALLEL = 8


class SourceUnreachable(Exception):
    """A vulnerability source did not answer (network, blocked host, or an unusable answer)."""


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]
    summary: str


@dataclass
class Finding:
    name: str
    version: str
    #: "exact" (this version was looked up) or "latest-only" (only the latest release's data)
    coverage: str
    latest: str | None = None
    advisories: list[Advisory] = field(default_factory=list)


def locked_packages(repo: Path = REPO) -> list[tuple[str, str]]:
    """Every third-party package of the lock file, with its locked version."""
    done = subprocess.run(
        [*EXPORT],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    found = []
    for line in done.stdout.splitlines():
        requirement = line.split(";", 1)[0].strip()
        if requirement and not requirement.startswith(("#", "-")):
            name, _, version = requirement.partition("==")
            if not version:
                raise SystemExit(f"audit: not a pinned requirement in the export: {line!r}")
            found.append((name.strip(), version.strip()))
    return found


def _advisory(entry: dict[str, Any]) -> Advisory:
    return Advisory(
        id=str(entry["id"]),
        aliases=tuple(entry.get("aliases") or ()),
        fixed_in=tuple(entry.get("fixed_in") or ()),
        summary=str(entry.get("summary") or entry.get("details") or "")[:200],
    )


async def _get(client: httpx.AsyncClient, url: str) -> httpx.Response:
    try:
        return await client.get(url)
    except httpx.HTTPError as exc:
        raise SourceUnreachable(f"{url}: {type(exc).__name__}: {exc}") from exc


async def from_osv(client: httpx.AsyncClient, packages: list[tuple[str, str]]) -> list[Finding]:
    queries = [{"package": {"name": n, "ecosystem": "PyPI"}, "version": v} for n, v in packages]
    try:
        answer = await client.post(OSV, json={"queries": queries})
    except httpx.HTTPError as exc:
        raise SourceUnreachable(f"{OSV}: {type(exc).__name__}: {exc}") from exc
    if answer.status_code != 200:
        raise SourceUnreachable(f"{OSV}: HTTP {answer.status_code}")
    results = answer.json().get("results", [])
    if len(results) != len(packages):
        raise SourceUnreachable(f"{OSV}: {len(results)} results for {len(packages)} queries")
    return [
        Finding(n, v, "exact", advisories=[_advisory(e) for e in r.get("vulns") or ()])
        for (n, v), r in zip(packages, results, strict=True)
    ]


async def _each(
    packages: list[tuple[str, str]], lookup: Any, parallel: int = PARALLEL
) -> list[Finding]:
    gate = asyncio.Semaphore(parallel)

    async def one(name: str, version: str) -> Finding:
        async with gate:
            finding: Finding = await lookup(name, version)
            return finding

    return list(await asyncio.gather(*(one(n, v) for n, v in packages)))


async def from_pypi_releases(
    client: httpx.AsyncClient, packages: list[tuple[str, str]]
) -> list[Finding]:
    # one probe first: where the per-release endpoint is blocked, every lookup would 404
    name, version = packages[0]
    probe = await _get(client, f"{PYPI}/{name}/{version}/json")
    if probe.status_code != 200:
        raise SourceUnreachable(f"{PYPI}/NAME/VERSION/json: HTTP {probe.status_code}")

    async def lookup(name: str, version: str) -> Finding:
        answer = await _get(client, f"{PYPI}/{name}/{version}/json")
        if answer.status_code != 200:
            raise SourceUnreachable(f"{PYPI}/{name}/{version}/json: HTTP {answer.status_code}")
        vulns = answer.json().get("vulnerabilities") or []
        return Finding(name, version, "exact", advisories=[_advisory(e) for e in vulns])

    return await _each(packages, lookup)


async def from_pypi_projects(
    client: httpx.AsyncClient, packages: list[tuple[str, str]]
) -> list[Finding]:
    async def lookup(name: str, version: str) -> Finding:
        answer = await _get(client, f"{PYPI}/{name}/json")
        if answer.status_code != 200:
            raise SourceUnreachable(f"{PYPI}/{name}/json: HTTP {answer.status_code}")
        data = answer.json()
        if "vulnerabilities" not in data:
            raise SourceUnreachable(f"{PYPI}/{name}/json: no 'vulnerabilities' field")
        latest = str(data["info"]["version"])
        files = data.get("releases", {}).get(version, [])
        advisories = [_advisory(e) for e in data["vulnerabilities"]]
        if files and all(f.get("yanked") for f in files):
            reason = next((f.get("yanked_reason") for f in files if f.get("yanked_reason")), "")
            advisories.append(Advisory(f"YANKED-{name}-{version}", (), (), f"yanked: {reason}"))
        coverage = "exact" if latest == version else "latest-only"
        return Finding(name, version, coverage, latest=latest, advisories=advisories)

    return await _each(packages, lookup)


SOURCES = {
    "osv": from_osv,
    "pypi-release": from_pypi_releases,
    "pypi-project": from_pypi_projects,
}


async def audit(packages: list[tuple[str, str]]) -> tuple[str, list[Finding], list[str]]:
    """The first source that answers for every package: its name, findings, and why the
    sources before it were passed over."""
    passed_over: list[str] = []
    async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=True) as client:
        for name, source in SOURCES.items():
            try:
                return name, await source(client, packages), passed_over
            except SourceUnreachable as exc:
                passed_over.append(f"{name}: {exc}")
    raise SourceUnreachable("no vulnerability source answered:\n  " + "\n  ".join(passed_over))


def load_ignores(path: Path = IGNORE_FILE) -> dict[str, str]:
    """``[ignore]`` id = "why it does not apply here"; an entry without a reason is an error."""
    if not path.is_file():
        return {}
    entries = tomllib.loads(path.read_text()).get("ignore", {})
    for vuln_id, reason in entries.items():
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            raise SystemExit(f"audit: {path.name}: {vuln_id} needs a reason (a sentence)")
    return dict(entries)


def _ignored(advisory: Advisory, ignores: dict[str, str]) -> str | None:
    for vuln_id in (advisory.id, *advisory.aliases):
        if vuln_id in ignores:
            return vuln_id
    return None


def report(
    source: str, findings: list[Finding], ignores: dict[str, str], *, require_exact: bool
) -> int:
    """Print the table and the verdict; the exit status (0 only when nothing is open)."""
    rows = []
    open_ids: list[str] = []
    used: set[str] = set()
    for f in sorted(findings, key=lambda f: f.name.lower()):
        notes = []
        for advisory in f.advisories:
            waived = _ignored(advisory, ignores)
            if waived:
                used.add(waived)
                notes.append(f"{advisory.id} (ignored: see {IGNORE_FILE.name})")
            else:
                open_ids.append(f"{f.name} {f.version}: {advisory.id} {advisory.summary}")
                fixed = ", ".join(advisory.fixed_in) or "no fix yet"
                notes.append(f"{advisory.id} VULNERABLE (fixed in {fixed})")
        rows.append((f.name, f.version, f.latest or "", f.coverage, "; ".join(notes) or "none"))
    widths = [max(len(r[i]) for r in [*rows, HEADERS]) for i in range(4)]
    for row in [HEADERS, (*("-" * w for w in widths), "-----"), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[4])
    exact = sum(f.coverage == "exact" for f in findings)
    print(
        f"\nsource: {source}; {len(findings)} locked packages, {exact} checked at their locked"
        f" version, {len(findings) - exact} only against their latest release"
    )
    if exact < len(findings):
        print(
            f"COVERAGE WARNING: per-version advisory data is not reachable from here; for the "
            f"{len(findings) - exact} packages locked behind their latest release, advisories "
            "fixed since the locked version cannot be seen (upgrade them, or run the audit "
            "where OSV or PyPI's per-release JSON answers)",
            file=sys.stderr,
        )
    for stale in sorted(set(ignores) - used):
        print(
            f"note: {IGNORE_FILE.name} entry {stale} matches no current advisory", file=sys.stderr
        )
    if open_ids:
        print(
            "\nAUDIT FAILED: known vulnerabilities without a note in "
            f"{IGNORE_FILE.relative_to(REPO)}:",
            file=sys.stderr,
        )
        for line in open_ids:
            print(f"  {line}", file=sys.stderr)
        return 1
    if require_exact and exact < len(findings):
        print(
            "AUDIT FAILED: --require-exact and not every version could be checked", file=sys.stderr
        )
        return 1
    print("audit passed: no known vulnerability without a note")
    return 0


HEADERS = ("package", "locked", "latest", "coverage", "advisories")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make audit", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--require-exact",
        action="store_true",
        help="fail unless every locked version could be checked itself (not only the latest)",
    )
    args = parser.parse_args(argv)
    ignores = load_ignores()
    packages = locked_packages()
    try:
        source, findings, passed_over = asyncio.run(audit(packages))
    except SourceUnreachable as exc:
        print(f"\nAUDIT FAILED: NO VULNERABILITY DATA. {exc}", file=sys.stderr)
        return 2
    for line in passed_over:
        print(f"source passed over: {line}", file=sys.stderr)
    return report(source, findings, ignores, require_exact=args.require_exact)


if __name__ == "__main__":
    raise SystemExit(main())
