"""DocuVault event contracts: the CloudEvents envelope and the versioned payload models.

Depends on pydantic only, so any system can consume DocuVault events with it.
"""

from docuvault.contracts.codec import MalformedEvent, UnknownEventType, decode, encode
from docuvault.contracts.envelope import CONTENT_TYPE, TYPE_PREFIX, CloudEvent, EventData, new_event
from docuvault.contracts.events import *  # noqa: F403
from docuvault.contracts.events import BY_NAME, EVENT_TYPES

__all__ = [
    "BY_NAME",
    "CONTENT_TYPE",
    "EVENT_TYPES",
    "TYPE_PREFIX",
    "CloudEvent",
    "EventData",
    "MalformedEvent",
    "UnknownEventType",
    "decode",
    "encode",
    "new_event",
]
