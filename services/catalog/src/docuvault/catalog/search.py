"""Full-text search: web-search syntax, per-language stemming, ranks and safe snippets."""

from __future__ import annotations

import html
import re

#: characters of extracted text kept in the catalog for search and snippets (PostgreSQL's
#: tsvector holds at most 1 MB; the whole text always stays in the object store)
TEXT_CAP = 200_000
#: ISO 639-1 → PostgreSQL text search configuration shipped with PostgreSQL 15
CONFIGS = {
    "ar": "arabic",
    "ca": "catalan",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nl": "dutch",
    "no": "norwegian",
    "nb": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
#: every configuration a document can be indexed with
ALL_CONFIGS = ("simple", *sorted(set(CONFIGS.values())))
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
START, STOP = "\x02", "\x03"  # never in extracted text (control characters are removed)


def config_for(language: str | None) -> str:
    return CONFIGS.get(language or "", "simple")


#: ``word*`` outside quotes and not negated: a prefix (search-as-you-type)
_PREFIX = re.compile(r'"[^"]*"?|(?<![\w-])(\w+)\*')


def split_prefixes(text: str) -> tuple[str, str | None]:
    """``q`` → (web-search text without its prefix words, a ``to_tsquery`` text or None).

    ``websearch_to_tsquery`` has no prefix syntax, so ``gove* minist*`` becomes
    ``'gove':* & 'minist':*``, ANDed with the rest. The words are letters, digits and ``_``:
    nothing in them is tsquery syntax.
    """
    prefixes: list[str] = []

    def take(match: re.Match[str]) -> str:
        if match.group(1) is None:  # a quoted phrase stays as it is
            return match.group(0)
        prefixes.append(f"'{match.group(1)}':*")
        return " "

    rest = _PREFIX.sub(take, text)
    return rest.strip(), " & ".join(prefixes) or None


#: a quoted phrase, negated when ``-`` precedes it; ``or`` outside quotes (web-search syntax)
_QUOTED = re.compile(r'(-?)"([^"]*)"')
_OR = re.compile(r"(?<!\S)or(?!\S)", re.IGNORECASE)
#: the adjacent lexeme pairs every match of the phrases ($2) holds, as one tsquery: per
#: configuration ($1) the AND of its pairs, ORed over the configurations (a document matches in
#: its own). NULL when a configuration has no pair at all (a stop word between every two words):
#: a match in it need not hold any pair
PAIRS_SQL = (
    "SELECT CASE WHEN count(*) = cardinality($1::text[])"
    " THEN string_agg(DISTINCT '(' || pairs || ')', ' | ') END"
    # a lexeme as tsquery input spells it: in quotes, with ' doubled and \ escaped
    r" FROM (SELECT c, string_agg(DISTINCT '''' || replace(replace(l.lexeme, '\', '\\'),"
    " '''', '''''') || '''', ' & ') AS pairs"
    " FROM unnest($1::text[]) AS c, unnest($2::text[]) AS p,"
    " unnest(public.lexeme_pairs(to_tsvector(c::regconfig, p))) AS l GROUP BY c) AS per_config"
)


def required_phrases(text: str) -> list[str]:
    """The quoted phrases of ``q`` that every match contains: none when ``q`` has an ``or``
    (a phrase may be one of its alternatives); negated ones never."""
    if _OR.search(_QUOTED.sub(" ", text)):
        return []
    found = _QUOTED.findall(text)
    return [phrase for minus, phrase in found if not minus and len(phrase.split()) > 1]


def query_sql(config: str, text_param: str, prefix_param: str | None) -> str:
    """The tsquery of ``q`` as ``config`` (SQL: a constant or a column) reads it."""
    query = f"websearch_to_tsquery({config}, {text_param})"
    if prefix_param is None:
        return query
    return f"({query} && to_tsquery({config}, {prefix_param}))"


def match_sql(
    text_param: str, prefix_param: str | None = None, pairs_param: str | None = None
) -> str:
    """Documents matching the query parsed with their own configuration.

    One branch per configuration, each with a constant query, so the GIN index serves them
    all (a BitmapOr); negations and phrases keep their meaning within each language.

    With ``pairs_param`` (the phrases' pairs, ``PAIRS_SQL``) the pair index (migration 0008)
    alone yields the candidates, and each is checked with the query as its own configuration
    reads it: not indexable, on purpose — the planner would otherwise AND the pairs with every
    branch's scan of the posting lists of both words (30 branches of ~13 ms each for two common
    words at a million documents), to save a few heap rows.
    """
    if pairs_param is not None:
        return (
            f"(search_pairs @@ {pairs_param}::tsquery"
            f" AND search_vector @@ {row_query_sql(text_param, prefix_param)})"
        )
    return (
        "("
        + " OR ".join(
            f"(search_config = '{c}'::regconfig"
            f" AND search_vector @@ {query_sql(repr(c), text_param, prefix_param)})"
            for c in ALL_CONFIGS
        )
        + ")"
    )


def row_query_sql(text_param: str, prefix_param: str | None = None) -> str:
    """The query as the row's own configuration reads it (for ranks and snippets)."""
    return query_sql("search_config", text_param, prefix_param)


def headline_sql(query: str) -> str:
    """The snippet of a row that has ``search_config``, ``search_text`` and ``search_filename``
    (the filename, under a name of its own so that it never clashes with a selected column)."""
    options = f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12, MaxFragments=2"
    return (
        f"ts_headline(search_config, coalesce(search_text, search_filename, ''), {query},"
        f" '{options}')"
    )


def snippet(raw: str | None) -> str | None:
    """HTML-escaped text with the matches in ``<mark>``: nothing of the document is markup."""
    if raw is None:
        return None
    return html.escape(raw).replace(START, "<mark>").replace(STOP, "</mark>")


def clean_text(text: str) -> str:
    """The capped, control-character free text kept for search."""
    return _CONTROL.sub("", text[:TEXT_CAP])
