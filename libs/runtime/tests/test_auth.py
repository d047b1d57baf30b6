import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from docuvault.runtime.auth import (
    AUDIENCE,
    ISSUER,
    InvalidToken,
    SigningKey,
    TokenVerifier,
    issue_token,
    owner_id_for,
)

SECRET = "a-test-secret-that-is-long-enough"


def test_token_carries_the_documented_claims() -> None:
    token = issue_token(SECRET, "alice")
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert header["kid"] == SigningKey.derive(SECRET).kid
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == str(owner_id_for("alice"))
    assert claims["name"] == "alice"
    assert claims["scope"] == "documents:read documents:write topics:write"
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600
    assert len(claims["jti"]) >= 16


def test_signing_key_is_derived_not_the_raw_secret() -> None:
    token = issue_token(SECRET, "alice")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE)
    jwt.decode(token, SigningKey.derive(SECRET).key, algorithms=["HS256"], audience=AUDIENCE)


def test_verifier_returns_the_principal() -> None:
    token = issue_token(SECRET, "bob", scopes=("documents:read",), ttl=timedelta(hours=1))
    principal = TokenVerifier(SECRET).verify(token)
    assert principal.owner_id == owner_id_for("bob")
    assert principal.name == "bob"
    assert principal.scopes == frozenset({"documents:read"})
    assert principal.expires_at - datetime.now(UTC) < timedelta(hours=1, seconds=5)


def test_owner_ids_are_stable_uuid5_and_distinct() -> None:
    assert owner_id_for("alice") == owner_id_for("alice")
    assert owner_id_for("alice") != owner_id_for("Alice")
    assert owner_id_for("alice").version == 5


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (issue_token("another-secret-of-enough-length", "eve"), "not signed by a key"),
        (issue_token(SECRET, "eve", ttl=timedelta(seconds=-5)), "expired"),
        ("not-a-token", "invalid"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token: str, message: str) -> None:
    with pytest.raises(InvalidToken, match=message):
        TokenVerifier(SECRET).verify(token)


def test_tampered_claims_fail_the_signature() -> None:
    head, _, sig = issue_token(SECRET, "alice").split(".")
    forged = {"sub": str(uuid.uuid4()), "iss": ISSUER, "aud": AUDIENCE, "exp": 4102444800}
    forged_claims = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    with pytest.raises(InvalidToken):
        TokenVerifier(SECRET).verify(f"{head}.{forged_claims}.{sig}")


def test_unknown_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        issue_token(SECRET, "alice", scopes=("documents:everything",))
