"""S3 endpoints resolved once per bucket: the same answers as botocore's own resolution."""

from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import pytest
from aiobotocore.config import AioConfig

from docuvault.runtime.s3endpoint import cache_endpoints


@pytest.fixture
async def client() -> AsyncIterator[Any]:
    session = aioboto3.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    config = AioConfig(s3={"addressing_style": "path"})
    # endpoint resolution needs no server: nothing listens there
    async with session.client("s3", endpoint_url="http://127.0.0.1:9", config=config) as s3:
        yield s3


async def _url(s3: Any, operation: str, params: dict[str, Any]) -> str:
    model = s3.meta.service_model.operation_model(operation)
    endpoint = await s3._ruleset_resolver.construct_endpoint(model, params, {})
    url: str = endpoint.url
    return url


async def test_cached_endpoints_equal_botocores_own_for_every_key_and_bucket(client: Any) -> None:
    calls = [
        ("PutObject", {"Bucket": bucket, "Key": f"owner/{n}/original"})
        for bucket in ("docuvault", "other-bucket")
        for n in range(5)
    ] + [("ListObjectsV2", {"Bucket": "docuvault", "Prefix": "owner/"})]
    plain = [await _url(client, op, params) for op, params in calls]
    assert cache_endpoints(client)
    cached = [await _url(client, op, params) for op, params in calls]
    assert cached == plain
    assert plain[0] == "http://127.0.0.1:9/docuvault"
    info = client._ruleset_resolver._provider.resolve_endpoint.cache_info()
    # one rule evaluation per bucket (and per distinct non-key parameters), not one per key
    assert info.misses <= 3
    assert info.hits >= 8
