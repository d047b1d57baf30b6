"""One S3 endpoint resolution per bucket, not one per request.

botocore resolves every request's endpoint from S3's rule set, with the object key among the
parameters, so its own cache misses on every new key: 0.8 ms of rule evaluation per request
against 0.1 ms when cached (measured here), paid by every upload, download and write of every
service. The rule set never reads the key, so the endpoint is cached on the other parameters.

botocore internals are touched, guarded: if they change, or a rule set starts to read the key,
nothing is cached and botocore works as before.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import botocore.loaders

log = logging.getLogger("docuvault.runtime")

#: parameters the cache leaves out of its key (the rule set must not read them)
IGNORED = ("Key",)


@functools.cache
def _rule_set_ignores_key() -> bool:
    rules = botocore.loaders.create_loader().load_service_model("s3", "endpoint-rule-set-1")
    text = json.dumps(rules)
    return not any(f'"ref": "{name}"' in text for name in IGNORED)


def cache_endpoints(client: Any) -> bool:
    """Make ``client`` resolve each endpoint once per bucket; True if it now does."""
    provider: Any = getattr(getattr(client, "_ruleset_resolver", None), "_provider", None)
    resolve = getattr(provider, "resolve_endpoint", None)
    if resolve is None or not _rule_set_ignores_key():
        log.warning("S3 endpoint resolution is not cached: botocore's internals differ")
        return False

    @functools.lru_cache(maxsize=64)
    def resolved(frozen: tuple[tuple[str, Any], ...]) -> Any:
        return resolve(**dict(frozen))

    def resolve_endpoint(**params: Any) -> Any:
        kept = tuple(sorted((k, v) for k, v in params.items() if k not in IGNORED))
        try:
            hash(kept)
        except TypeError:  # a list among the parameters (a batch of keys): not cacheable
            return resolve(**params)
        return resolved(kept)

    resolve_endpoint.cache_info = resolved.cache_info  # type: ignore[attr-defined]
    provider.resolve_endpoint = resolve_endpoint
    return True
