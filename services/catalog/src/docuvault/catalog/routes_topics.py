"""``/v1/topics`` and ``/v1/settings/classification``: the owner's vocabulary and preferences.

Every change is announced through the outbox (``topic.*.v1``, ``settings.*.v1``).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from docuvault.catalog.adapters.topics import TopicNameTaken
from docuvault.catalog.deps import CatalogDep
from docuvault.catalog.schemas import (
    ClassificationSettings,
    TopicIn,
    TopicList,
    TopicOut,
    TopicPatch,
)
from docuvault.contracts import CloudEvent, EventData
from docuvault.contracts.events import TopicUpserted
from docuvault.runtime.events import fresh
from docuvault.runtime.problems import Problem
from docuvault.runtime.security import ReaderDep, TopicWriterDep

router = APIRouter(tags=["topics"])
NOT_FOUND = "no such topic"


def _wrap(data: EventData) -> CloudEvent[Any]:
    return fresh(data, source="catalog")


def _taken(name: str) -> Problem:
    return Problem(409, f"a topic named {name!r} exists already; choose another name")


@router.get("/v1/topics", response_model=TopicList, summary="The owner's topics")
async def list_topics(principal: ReaderDep, catalog: CatalogDep) -> TopicList:
    found = await catalog.topics.list(principal.owner_id)
    return TopicList(items=[TopicOut.of(t, n) for t, n in found])


@router.post("/v1/topics", status_code=201, response_model=TopicOut, summary="Create a topic")
async def create_topic(body: TopicIn, principal: TopicWriterDep, catalog: CatalogDep) -> TopicOut:
    topic = TopicUpserted(
        topic_id=uuid.uuid4(), owner_id=principal.owner_id, version=1, **body.model_dump()
    )
    try:
        saved = await catalog.topics.save(topic, _wrap, create=True)
    except TopicNameTaken as exc:
        raise _taken(body.name) from exc
    assert saved is not None
    return TopicOut.of(saved, 0)


@router.get("/v1/topics/{topic_id}", response_model=TopicOut, summary="One topic")
async def get_topic(topic_id: uuid.UUID, principal: ReaderDep, catalog: CatalogDep) -> TopicOut:
    found = await catalog.topics.get(principal.owner_id, topic_id)
    if found is None:
        raise Problem(404, NOT_FOUND)
    return TopicOut.of(*found)


@router.patch("/v1/topics/{topic_id}", response_model=TopicOut, summary="Change a topic")
async def patch_topic(
    topic_id: uuid.UUID, body: TopicPatch, principal: TopicWriterDep, catalog: CatalogDep
) -> TopicOut:
    found = await catalog.topics.get(principal.owner_id, topic_id)
    if found is None:
        raise Problem(404, NOT_FOUND)
    current, count = found
    # a field given as null is left as it is, except the color (null removes it); the result
    # is validated as a whole (a nested ``match`` must become a TopicMatch again)
    updates = {
        k: v
        for k, v in body.model_dump(exclude_unset=True).items()
        if v is not None or k == "color"
    }
    changed = TopicUpserted.model_validate({**current.model_dump(), **updates})
    try:
        saved = await catalog.topics.save(changed, _wrap, create=False)
    except TopicNameTaken as exc:
        raise _taken(changed.name) from exc
    if saved is None:
        raise Problem(404, NOT_FOUND)
    return TopicOut.of(saved, count)


@router.delete("/v1/topics/{topic_id}", status_code=204, summary="Delete a topic")
async def delete_topic(
    topic_id: uuid.UUID, principal: TopicWriterDep, catalog: CatalogDep
) -> Response:
    if not await catalog.topics.delete(principal.owner_id, topic_id, _wrap):
        raise Problem(404, NOT_FOUND)
    return Response(status_code=204)


@router.get(
    "/v1/settings/classification",
    response_model=ClassificationSettings,
    tags=["settings"],
    summary="The owner's classification settings (deployment defaults until changed)",
)
async def get_settings(principal: ReaderDep, catalog: CatalogDep) -> ClassificationSettings:
    saved = await catalog.topics.settings(principal.owner_id)
    if saved is None:
        defaults = catalog.settings
        return ClassificationSettings(
            provider=defaults.classifier_provider, apply_threshold=defaults.apply_threshold
        )
    return ClassificationSettings(
        provider=saved.provider,
        system_prompt=saved.system_prompt,
        apply_threshold=saved.apply_threshold,
    )


@router.put(
    "/v1/settings/classification",
    response_model=ClassificationSettings,
    tags=["settings"],
    summary="Change the owner's provider, system prompt or apply threshold",
)
async def put_settings(
    body: ClassificationSettings, principal: TopicWriterDep, catalog: CatalogDep
) -> ClassificationSettings:
    enabled = catalog.settings.providers
    if body.provider not in enabled:
        raise Problem(
            422, f"provider {body.provider!r} is not enabled here; enabled: {', '.join(enabled)}"
        )
    await catalog.topics.save_settings(
        principal.owner_id, body.provider, body.system_prompt, body.apply_threshold, _wrap
    )
    return body
