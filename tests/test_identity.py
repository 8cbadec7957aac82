"""The signed-in user: with AUTH_ISSUER set, a route that declares `User` takes the user's token,
verified with the keys the issuer publishes (harness.issuer stands in for the provider); every
bad token is a 401 saying which check failed; an unreachable issuer is a 503 naming it; the API
key still guards every other write and does not open a user's route."""

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient

from backend.auth import WRITES_OFF
from backend.identity import (
    ALGORITHM,
    AUDIENCE,
    EXPIRED,
    FETCH_TIMEOUT_S,
    ISSUER,
    KEYS_MAX_AGE_S,
    LEEWAY_S,
    MALFORMED,
    MISSING_CLAIM,
    NO_HEADER,
    NOT_BEARER,
    NOT_YET_VALID,
    REFETCH_AFTER_S,
    SIGNATURE,
    UNKNOWN_KEY,
    Issuer,
    User,
    current_user,
)
from backend.server import create_app
from harness import ROOT
from harness.issuer import Issuer as Provider
from harness.issuer import SigningKey
from harness.net import free_port
from tests.conftest import TEST_API_KEY as KEY

NOTES = "/api/throwaway-notes"
KEYED = {"Authorization": f"Bearer {KEY}"}


def add_notes(app: FastAPI) -> list[str]:
    """A router that takes the user, added the plain FastAPI way after create_app(); what its
    create stores (the user it was given) is returned, so a test sees whether it was reached."""
    stored: list[str | None] = []
    router = APIRouter(prefix=NOTES, tags=["notes"])

    @router.post("", status_code=201)
    async def create_note(user: User) -> dict[str, str | None]:
        """Create a note."""
        stored.append(user)
        return {"owner": user}

    @router.get("")
    async def list_notes(user: User) -> list[str | None]:
        """List the user's notes."""
        return [owner for owner in stored if owner == user]

    @router.delete("/{note_id}", status_code=204)
    async def delete_note(note_id: str, user: User) -> None:
        """Delete a note."""

    app.include_router(router)
    return stored


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SignedIn:
    """The app with AUTH_ISSUER pointing at `issuer`, the notes router and its store."""

    def __init__(self, app: FastAPI, issuer: Provider) -> None:
        self.app, self.issuer = app, issuer
        self.stored = add_notes(app)
        self.client = TestClient(app).__enter__()

    def create(self, token: str | None = None, **headers: str) -> httpx.Response:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.post(NOTES, headers=headers)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sign_in(make_settings, clock):
    """`sign_in(issuer, **settings)`: the app signed in to `issuer`, keys cached on `clock`."""
    made: list[SignedIn] = []

    def make(issuer: Provider, **settings: object) -> SignedIn:
        values = {"auth_issuer": issuer.url, "auth_audience": issuer.audience, **settings}
        app = create_app(make_settings(**values))
        app.state.issuer = Issuer(values["auth_issuer"], issuer.audience, clock=clock)
        made.append(SignedIn(app, issuer))
        return made[-1]

    yield make
    for each in made:
        each.client.__exit__(None, None, None)


@pytest.fixture
def signed_in(sign_in, issuer) -> SignedIn:
    return sign_in(issuer, api_key=KEY)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict, claims: dict, sign) -> str:
    """A token put together by hand, as an attacker would: header, claims, `sign(input)`."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def valid_claims(issuer: Provider) -> dict:
    now = int(time.time())
    return {"iss": issuer.url, "aud": issuer.audience, "sub": "mallory", "exp": now + 600}


def hs256_with(secret: bytes):
    return lambda signing_input: hmac.new(secret, signing_input, hashlib.sha256).digest()


def without(claim: str):
    def token(issuer: Provider) -> str:
        claims = {k: v for k, v in valid_claims(issuer).items() if k != claim}
        key = issuer.current["RS256"]
        return jwt_encode(claims, key)

    return token


def jwt_encode(claims: dict, key: SigningKey, **header: str) -> str:
    import jwt

    return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid, **header})


def another_key_with_a_published_kid(issuer: Provider) -> str:
    impostor = SigningKey(issuer.current["RS256"].kid, "RS256", SigningKey.make().private)
    return issuer.token("mallory", key=impostor)


def rs256_header_on_the_ec_key_s_kid(issuer: Provider) -> str:
    rsa = issuer.current["RS256"]
    return jwt_encode(valid_claims(issuer), rsa, kid=issuer.current["ES256"].kid)


BAD_TOKENS = {
    "expired": (lambda i: i.token("mallory", expires_in=-LEEWAY_S - 60), EXPIRED),
    "for another audience": (lambda i: i.token("mallory", audience="another-api"), AUDIENCE),
    "from another issuer": (lambda i: i.token("mallory", issuer="https://evil.example"), ISSUER),
    "signed by a key never published": (
        lambda i: i.token("mallory", key=SigningKey.make()),
        UNKNOWN_KEY,
    ),
    "signed by another key under a published kid": (another_key_with_a_published_kid, SIGNATURE),
    "alg none": (
        lambda i: forged(
            {"alg": "none", "kid": i.current["RS256"].kid}, valid_claims(i), lambda _: b""
        ),
        ALGORITHM,
    ),
    "alg none under a made-up kid": (
        lambda i: forged({"alg": "none", "kid": "made-up"}, valid_claims(i), lambda _: b""),
        ALGORITHM,
    ),
    "HS256 signed with the public key": (
        lambda i: forged(
            {"alg": "HS256", "kid": i.current["RS256"].kid},
            valid_claims(i),
            hs256_with(i.current["RS256"].public_pem()),
        ),
        ALGORITHM,
    ),
    "HS256 signed with the published JWK": (
        lambda i: forged(
            {"alg": "HS256", "kid": i.current["RS256"].kid},
            valid_claims(i),
            hs256_with(json.dumps(i.current["RS256"].jwk()).encode()),
        ),
        ALGORITHM,
    ),
    "RS256 under the EC key's kid": (rs256_header_on_the_ec_key_s_kid, ALGORITHM),
    "not yet valid": (lambda i: i.token("mallory", nbf=int(time.time()) + 600), NOT_YET_VALID),
    "without exp": (without("exp"), MISSING_CLAIM),
    "without sub": (without("sub"), MISSING_CLAIM),
    "without aud": (without("aud"), MISSING_CLAIM),
    "with an empty sub": (lambda i: i.token(""), MISSING_CLAIM),
    "without a kid": (
        lambda i: forged({"alg": "RS256"}, valid_claims(i), lambda _: b"x" * 256),
        UNKNOWN_KEY,
    ),
    "garbage": (lambda i: "garbage", MALFORMED),
    "three parts of garbage": (lambda i: "a.b.c", MALFORMED),
    "the API key": (lambda i: KEY, MALFORMED),
    "an empty token": (lambda i: "", MALFORMED),
}


@pytest.mark.parametrize(("make_token", "detail"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_bad_token_is_401_saying_which_check_failed_and_stores_nothing(
    signed_in, make_token, detail
):
    token = make_token(signed_in.issuer)
    response = signed_in.create(token)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{detail}"'
    )
    assert signed_in.stored == []
    if token:
        assert token not in response.text
        assert token not in str(response.headers)


def test_each_detail_fits_rfc_6750_s_error_description():
    details = {detail for _, detail in BAD_TOKENS.values()}
    for detail in details:
        assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in detail), detail


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_token_from_the_issuer_is_accepted_and_its_sub_is_the_user(signed_in, alg):
    token = signed_in.issuer.token("alice", key=signed_in.issuer.current[alg])
    response = signed_in.create(token)
    assert response.status_code == 201
    assert response.json() == {"owner": "alice"}
    assert signed_in.stored == ["alice"]


def test_a_token_expired_within_the_leeway_is_accepted(signed_in):
    token = signed_in.issuer.token("alice", expires_in=-(LEEWAY_S - 10))
    assert signed_in.create(token).status_code == 201


def test_reads_of_a_user_route_need_the_token_too(signed_in):
    token = signed_in.issuer.token("alice")
    assert signed_in.client.get(NOTES).status_code == 401
    assert signed_in.client.get(NOTES, headers={"Authorization": f"Bearer {token}"}).json() == []


def test_without_a_header_the_401_challenges_with_no_error(signed_in):
    response = signed_in.create()
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": NO_HEADER}
    assert signed_in.stored == []


def test_another_scheme_is_no_token(signed_in):
    response = signed_in.create(Authorization=f"Basic {signed_in.issuer.token('alice')}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": NOT_BEARER}


def test_the_scheme_is_case_insensitive(signed_in):
    response = signed_in.create(Authorization=f"bEARER {signed_in.issuer.token('alice')}")
    assert response.status_code == 201


# The keys: fetched once, shared, refetched for an unknown key at most every REFETCH_AFTER_S.


def test_the_keys_are_fetched_once_for_many_tokens(signed_in):
    for user in ("alice", "bob", "carol"):
        assert signed_in.create(signed_in.issuer.token(user)).status_code == 201
    assert signed_in.issuer.jwks_requests == 1


def test_concurrent_first_tokens_share_one_fetch(sign_in, issuer):
    app = sign_in(issuer).app
    tokens = [issuer.token(f"user-{n}") for n in range(16)]

    async def all_at_once() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            calls = [client.post(NOTES, headers={"Authorization": f"Bearer {t}"}) for t in tokens]
            return [response.status_code for response in await asyncio.gather(*calls)]

    assert asyncio.run(all_at_once()) == [201] * 16
    assert issuer.jwks_requests == 1


def test_made_up_key_ids_fetch_the_keys_at_most_once_per_interval(signed_in, clock):
    issuer = signed_in.issuer
    assert signed_in.create(issuer.token("alice")).status_code == 201
    for _ in range(20):
        assert signed_in.create(issuer.token("mallory", key=SigningKey.make("ES256"))).json() == {
            "detail": UNKNOWN_KEY
        }
    assert issuer.jwks_requests == 1
    clock.advance(REFETCH_AFTER_S)
    for _ in range(20):
        signed_in.create(issuer.token("mallory", key=SigningKey.make("ES256")))
    assert issuer.jwks_requests == 2


def test_a_rotated_key_is_accepted_without_a_restart(signed_in, clock):
    issuer = signed_in.issuer
    assert signed_in.create(issuer.token("alice")).status_code == 201
    issuer.rotate("RS256", keep_old=False)
    issuer.rotate("ES256", keep_old=False)
    clock.advance(REFETCH_AFTER_S)
    for alg in ("RS256", "ES256"):
        token = issuer.token("alice", key=issuer.current[alg])
        assert signed_in.create(token).status_code == 201
    assert issuer.jwks_requests == 2


def test_a_key_the_issuer_withdrew_is_refused_once_the_keys_are_fetched_again(signed_in, clock):
    issuer = signed_in.issuer
    old = issuer.token("alice")
    assert signed_in.create(old).status_code == 201
    issuer.rotate("RS256", keep_old=False)
    clock.advance(KEYS_MAX_AGE_S + 1)
    assert signed_in.create(old).json() == {"detail": UNKNOWN_KEY}
    assert signed_in.create(issuer.token("alice")).status_code == 201


# The issuer down, hanging or misconfigured: a 503 naming it, within the timeout.


def test_with_the_issuer_down_a_token_is_503_naming_the_issuer(signed_in):
    issuer = signed_in.issuer
    token = issuer.token("alice")
    issuer.stop()
    started = time.monotonic()
    response = signed_in.create(token)
    assert time.monotonic() - started < FETCH_TIMEOUT_S
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail.startswith("The sign-in provider's keys could not be fetched: ")
    assert f"{issuer.url}/.well-known/openid-configuration could not be reached" in detail
    assert "(ConnectionRefusedError)" in detail
    assert response.headers["retry-after"] == f"{REFETCH_AFTER_S:g}"
    assert signed_in.stored == []


def test_while_the_issuer_is_down_it_is_asked_again_at_most_once_per_interval(signed_in, clock):
    issuer = signed_in.issuer
    token = issuer.token("alice")
    issuer.stop()
    assert signed_in.create(token).status_code == 503
    issuer.start()  # back, but not asked before the interval is over
    assert signed_in.create(token).status_code == 503
    assert issuer.jwks_requests == 0
    clock.advance(REFETCH_AFTER_S)
    assert signed_in.create(token).status_code == 201


def test_with_the_issuer_down_known_keys_still_serve_and_an_unknown_one_is_503_or_401(
    signed_in, clock
):
    issuer = signed_in.issuer
    assert signed_in.create(issuer.token("alice")).status_code == 201
    issuer.stop()
    assert signed_in.create(issuer.token("bob")).status_code == 201
    unknown = issuer.token("mallory", key=SigningKey.make())
    assert signed_in.create(unknown).status_code == 401  # fetched less than the interval ago
    clock.advance(REFETCH_AFTER_S)
    response = signed_in.create(unknown)
    assert response.status_code == 503
    assert issuer.url in response.json()["detail"]
    clock.advance(KEYS_MAX_AGE_S)  # too old to trust without asking, but nobody answers
    assert signed_in.create(issuer.token("carol")).status_code == 201


@pytest.fixture
def silent_issuer():
    """An issuer URL whose server takes connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.slow
def test_an_issuer_that_never_answers_is_a_503_within_the_timeout(
    make_settings, silent_issuer, issuer
):
    app = create_app(make_settings(auth_issuer=silent_issuer, auth_audience=issuer.audience))
    add_notes(app)
    with TestClient(app) as client:
        started = time.monotonic()
        response = client.post(NOTES, headers={"Authorization": f"Bearer {issuer.token('a')}"})
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"The sign-in provider's keys could not be fetched: {silent_issuer} did not answer "
        f"within {FETCH_TIMEOUT_S:g} s. Check AUTH_ISSUER and that the provider is up."
    )
    assert FETCH_TIMEOUT_S - 0.5 < elapsed < FETCH_TIMEOUT_S + 3  # the issue asks within 15 s


def test_an_issuer_whose_discovery_names_another_issuer_is_a_503_saying_what_to_set(
    sign_in, issuer
):
    signed_in = sign_in(issuer, auth_issuer=f"{issuer.url}/")
    response = signed_in.create(issuer.token("alice"))
    assert response.status_code == 503
    assert (
        f"names the issuer '{issuer.url}': set AUTH_ISSUER to exactly that"
        in (response.json()["detail"])
    )
    assert "retry-after" not in response.headers


# The API key: it guards every write that takes no user; it does not open a user's route.


def test_a_user_route_write_needs_no_api_key(signed_in):
    assert signed_in.create(signed_in.issuer.token("alice")).status_code == 201


def test_the_api_key_does_not_open_a_user_route(signed_in):
    response = signed_in.create(KEY)
    assert response.status_code == 401
    assert response.json() == {"detail": MALFORMED}
    assert signed_in.stored == []


def test_other_writes_still_need_the_api_key_not_a_user_token(signed_in):
    token = signed_in.issuer.token("alice")
    body = {"client_name": "x"}
    refused = signed_in.client.post(
        "/api/status", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 401
    assert refused.json()["detail"].startswith("Writes need the API key")
    assert signed_in.client.post("/api/status", json=body, headers=KEYED).status_code == 201


def test_a_deployment_without_api_key_takes_user_writes_and_refuses_the_others(
    make_settings, issuer
):
    # A deployment takes only an https:// issuer (test_settings.py); the keys come from the
    # test issuer over http here (the deploy rehearsal fetches them over https).
    settings = make_settings(
        vercel=True, auth_issuer="https://issuer.example", auth_audience=issuer.audience
    )
    app = create_app(settings)
    app.state.issuer = Issuer(issuer.url, issuer.audience)
    stored = add_notes(app)
    with TestClient(app) as client:
        token = issuer.token("alice")
        accepted = client.post(NOTES, headers={"Authorization": f"Bearer {token}"})
        refused = client.post("/api/status", json={"client_name": "x"})
    assert accepted.status_code == 201
    assert stored == ["alice"]
    assert refused.status_code == 403
    assert refused.json()["detail"] == WRITES_OFF


def test_without_auth_issuer_a_user_route_takes_no_token_and_the_key_guards_its_writes(
    make_client,
):
    client = make_client(api_key=KEY)
    stored = add_notes(client.app)
    assert client.post(NOTES).status_code == 401
    assert client.post(NOTES, headers=KEYED).json() == {"owner": None}
    assert client.get(NOTES).status_code == 200
    assert stored == [None]


def test_without_auth_issuer_a_route_that_takes_the_user_works_as_before(make_client):
    client = make_client()
    add_notes(client.app)
    assert client.post(NOTES).status_code == 201


# Logs: the token and its claims never appear.


def test_no_token_or_claim_value_reaches_a_log_line(signed_in, clock, capfd):
    issuer = signed_in.issuer
    tokens = [
        issuer.token("sub-7f3a9e", email="claim-value-1b2c@example.com"),
        issuer.token("sub-7f3a9e", expires_in=-3600, email="claim-value-1b2c@example.com"),
        issuer.token("sub-7f3a9e", audience="aud-value-5d6e"),
        issuer.token("sub-7f3a9e", key=SigningKey.make()),
    ]
    for token in tokens:
        signed_in.create(token)
    issuer.stop()
    clock.advance(REFETCH_AFTER_S)
    signed_in.create(issuer.token("sub-7f3a9e", key=SigningKey.make()))
    err = capfd.readouterr().err
    assert "sign-in keys" in err  # the fetch and the failure were logged...
    for value in [*tokens, "sub-7f3a9e", "claim-value-1b2c", "aud-value-5d6e"]:
        assert value not in err  # ...and nothing of the tokens
    for token in tokens:
        for part in token.split("."):
            assert part not in err


# The OpenAPI document: the user's bearer scheme on every operation whose route takes the user.


def test_the_document_declares_the_user_token_on_user_routes_only(signed_in):
    document = signed_in.client.get("/api/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["UserToken"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    paths = document["paths"]
    for path, method in [(NOTES, "post"), (NOTES, "get"), (f"{NOTES}/{{note_id}}", "delete")]:
        operation = paths[path][method]
        assert operation["security"] == [{"UserToken": []}]
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
        assert "expired, audience, issuer" in operation["responses"]["401"]["description"]
        assert "403" not in operation["responses"]  # the API key's "writes are off"
    assert paths["/api/status"]["post"]["security"] == [{"APIKey": []}]
    assert "403" in paths["/api/status"]["post"]["responses"]
    assert "security" not in paths["/api/status"]["get"]


def test_without_auth_issuer_the_document_has_no_user_token(make_client):
    client = make_client()
    add_notes(client.app)
    document = client.get("/api/openapi.json").json()
    assert "UserToken" not in document["components"].get("securitySchemes", {})
    assert "security" not in document["paths"][NOTES]["get"]


def test_a_route_that_reaches_the_user_through_other_dependencies_takes_the_token(signed_in):
    async def owner_scope(user: User) -> str | None:
        return user

    scoped = APIRouter(prefix="/api/throwaway-scoped")

    @scoped.post("")
    async def create_scoped(owner: Annotated[str | None, Depends(owner_scope)]) -> str | None:
        """Through a dependency of the route."""
        return owner

    guarded = APIRouter(prefix="/api/throwaway-guarded", dependencies=[Depends(current_user)])

    @guarded.put("/{name}")
    async def replace_guarded(name: str) -> str:
        """Through the router's dependencies."""
        return name

    signed_in.app.include_router(scoped)
    signed_in.app.include_router(guarded)
    bearer = {"Authorization": f"Bearer {signed_in.issuer.token('alice')}"}
    client = signed_in.client
    for method, path in [("POST", "/api/throwaway-scoped"), ("PUT", "/api/throwaway-guarded/a")]:
        refused = client.request(method, path)
        assert refused.json() == {"detail": NO_HEADER}  # the user's 401, not the key's
        assert client.request(method, path, headers=KEYED).json() == {"detail": MALFORMED}
        assert client.request(method, path, headers=bearer).status_code == 200
    paths = client.get("/api/openapi.json").json()["paths"]
    assert paths["/api/throwaway-scoped"]["post"]["security"] == [{"UserToken": []}]
    assert paths["/api/throwaway-guarded/{name}"]["put"]["security"] == [{"UserToken": []}]


# Cold start: PyJWT and cryptography load with the first token, not with the app.


def test_the_app_imports_neither_pyjwt_nor_cryptography_nor_urllib_request():
    heavy = ("jwt", "cryptography", "urllib.request")
    code = f"import sys, backend.server; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


# make issuer and make token: a local issuer for make dev, and a token from it.


def test_make_issuer_serves_keys_and_make_token_prints_a_token_they_verify():
    port, url = free_port(), ""
    command = [sys.executable, "-m", "harness.issuer"]
    serve = [*command, "serve", "--port", str(port)]
    with subprocess.Popen(serve, cwd=ROOT, stdout=subprocess.PIPE, text=True) as server:
        try:
            banner = server.stdout.readline()
            url = f"http://127.0.0.1:{port}"
            assert banner.startswith(f"Test issuer at {url}")
            mint = [*command, "token", "alice", "--port", str(port)]
            minted = subprocess.run(mint, cwd=ROOT, capture_output=True, text=True, check=True)
            verifier = Issuer(url, "local-api")
            assert asyncio.run(verifier.user(f"Bearer {minted.stdout.strip()}")) == "alice"
        finally:
            server.terminate()


def test_make_token_without_an_issuer_says_to_start_one():
    result = subprocess.run(
        [sys.executable, "-m", "harness.issuer", "token", "alice", "--port", str(free_port())],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "run make issuer first" in result.stderr
