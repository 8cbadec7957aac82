"""Who is calling: the signed-in user's token (`Authorization: Bearer`), verified with the keys
the sign-in provider (AUTH_ISSUER) publishes. A route that declares `user: User` takes it.

PyJWT and cryptography are imported on the first token, not at start-up: they cost cold-start
time, and an app without AUTH_ISSUER never needs them.
"""

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request

from backend.errors import route_operations
from backend.log import logger
from backend.settings import Settings

if TYPE_CHECKING:
    from jwt import PyJWK

ALGORITHMS = ("RS256", "ES256")
# Clock skew allowed on exp, nbf and iat.
LEEWAY_S = 30
# Bound on fetching the keys (the discovery document, then the JWKS), whatever the issuer does.
FETCH_TIMEOUT_S = 5.0
# A token naming a key the cached set lacks fetches the set again at most this often, so made-up
# key ids cannot turn the API into a client hammering the issuer.
REFETCH_AFTER_S = 5.0
# Keys are fetched again after this long, so a key the issuer withdrew stops being trusted.
KEYS_MAX_AGE_S = 15 * 60
MAX_DOCUMENT_BYTES = 512 * 1024
SCHEME = "UserToken"

_SEND = (
    "This route needs the signed-in user's token: send Authorization: Bearer <token>, the token "
    "the sign-in provider AUTH_ISSUER names gives the user (the API key does not reach users' "
    "data)."
)
NO_HEADER = f"{_SEND} This request has no Authorization header."
NOT_BEARER = f"{_SEND} This request's Authorization header is not Bearer."
MALFORMED = "The bearer token is not a JWT (three base64url parts): send the user's token."
ALGORITHM = f"The token is not signed with an algorithm this API accepts ({', '.join(ALGORITHMS)})."
UNKNOWN_KEY = (
    "The token is signed with a key AUTH_ISSUER does not publish (its kid is not in the JWKS)."
)
SIGNATURE = "The token's signature does not verify with the issuer's key."
EXPIRED = "The token has expired: get a new one from the sign-in provider."
NOT_YET_VALID = "The token is not valid yet (nbf or iat is in the future)."
AUDIENCE = "The token is not for this API: its aud does not name AUTH_AUDIENCE."
ISSUER = "The token is from another issuer: its iss is not AUTH_ISSUER."
MISSING_CLAIM = "The token lacks a claim this API requires (exp, iss, aud and sub)."


class _Unavailable(Exception):
    """The issuer's keys could not be had; the message says why, naming only public URLs."""

    def __init__(self, detail: str, *, transient: bool = True) -> None:
        super().__init__(detail)
        self.transient = transient


class Issuer:
    """One issuer's keys, fetched on the first token and cached for the instance; fetched again
    when a token names a key id the cache lacks (at most every REFETCH_AFTER_S) and once they are
    KEYS_MAX_AGE_S old (the old ones serve while the issuer cannot be reached)."""

    def __init__(
        self, url: str, audience: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.url, self.audience = url, audience
        self._clock = clock
        # A fetch runs in a worker thread: the lock makes concurrent requests share one.
        self._lock = threading.Lock()
        self._keys: dict[str, PyJWK] = {}
        self._jwks_uri: str | None = None
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._failure: _Unavailable | None = None

    async def user(self, authorization: str | None) -> str:
        """The subject (`sub`) of the bearer token in `authorization`; else a 401 or a 503."""
        token = _bearer(authorization)
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid(MALFORMED) from None
        if header.get("alg") not in ALGORITHMS:
            raise _invalid(ALGORITHM)
        kid = header.get("kid")
        key = await self._key(kid) if isinstance(kid, str) else None
        if key is None:
            raise _invalid(UNKNOWN_KEY)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.url,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise _invalid(_failed_check(exc)) from None
        if not claims["sub"]:
            raise _invalid(MISSING_CLAIM)
        return claims["sub"]

    async def _key(self, kid: str) -> "PyJWK | None":
        if kid not in self._keys or self._too_old():
            try:
                await asyncio.wait_for(asyncio.to_thread(self._refresh), FETCH_TIMEOUT_S)
            except (_Unavailable, TimeoutError) as exc:
                # Keys fetched earlier still serve while the issuer cannot be reached.
                if kid not in self._keys:
                    raise self._unavailable(exc) from None
        return self._keys.get(kid)

    def _too_old(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at > KEYS_MAX_AGE_S

    def _refresh(self) -> None:
        """Fetch the keys, unless a fetch started less than REFETCH_AFTER_S ago (that one's
        failure is raised again)."""
        with self._lock:
            if self._tried_at is not None and self._clock() - self._tried_at < REFETCH_AFTER_S:
                if self._failure is not None:
                    raise self._failure
                return
            self._tried_at = self._clock()
            try:
                self._keys = self._fetch()
            except _Unavailable as failure:
                self._failure = failure
                logger.warning("sign-in keys not fetched: %s", failure)
                raise
            self._failure, self._fetched_at = None, self._clock()
            logger.info("sign-in keys fetched from %s: %d", self._jwks_uri, len(self._keys))

    def _fetch(self) -> "dict[str, PyJWK]":
        import jwt

        if self._jwks_uri is None:
            discovery = _get_json(f"{self.url.rstrip('/')}/.well-known/openid-configuration")
            if discovery.get("issuer") != self.url:
                named = str(discovery.get("issuer"))[:200]
                raise _Unavailable(
                    f"The discovery document of AUTH_ISSUER={self.url} names the issuer "
                    f"{named!r}: set AUTH_ISSUER to exactly that (a trailing slash counts).",
                    transient=False,
                )
            jwks_uri = discovery.get("jwks_uri")
            # Only the issuer's own scheme: a discovery document cannot send us to file://.
            if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme not in (
                "https",
                urlsplit(self.url).scheme,
            ):
                raise _Unavailable(
                    f"The discovery document of AUTH_ISSUER={self.url} has no usable jwks_uri.",
                    transient=False,
                )
            self._jwks_uri = jwks_uri
        published = _get_json(self._jwks_uri).get("keys")
        keys = {}
        for jwk in published if isinstance(published, list) else []:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(jwk)
            except jwt.PyJWTError:
                continue  # a key of a type this API does not take
            if isinstance(key.key_id, str) and key.algorithm_name in ALGORITHMS:
                keys[key.key_id] = key
        if not keys:
            raise _Unavailable(
                f"AUTH_ISSUER={self.url} publishes no {' or '.join(ALGORITHMS)} signing key "
                f"with a kid at {self._jwks_uri}.",
                transient=False,
            )
        return keys

    def _unavailable(self, exc: Exception) -> HTTPException:
        if isinstance(exc, _Unavailable):
            detail, transient = str(exc), exc.transient
        else:
            detail, transient = f"{self.url} did not answer within {FETCH_TIMEOUT_S:g} s.", True
        return HTTPException(
            503,
            f"The sign-in provider's keys could not be fetched: {detail} Check AUTH_ISSUER and "
            "that the provider is up.",
            {"Retry-After": f"{REFETCH_AFTER_S:g}"} if transient else None,
        )


def _get_json(url: str) -> dict[str, Any]:
    """The JSON object at `url`, bounded in time and size (runs in a worker thread)."""
    from http.client import HTTPException as ProtocolError
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    try:
        # http(s) only: AUTH_ISSUER is checked in settings.py, the jwks_uri in Issuer._fetch.
        request = Request(url, headers={"Accept": "application/json"})  # noqa: S310
        with urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except HTTPError as exc:
        raise _Unavailable(f"{url} answered HTTP {exc.code}.") from None
    except (OSError, ProtocolError) as exc:  # refused, timed out, TLS, not HTTP
        # URLError wraps the cause (ConnectionRefusedError, TimeoutError...): name that.
        cause = getattr(exc, "reason", None)
        name = type(cause if isinstance(cause, Exception) else exc).__name__
        raise _Unavailable(f"{url} could not be reached ({name}).") from None
    try:
        document = json.loads(body) if len(body) <= MAX_DOCUMENT_BYTES else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise _Unavailable(f"{url} did not answer a JSON object.", transient=False)
    return document


def _bearer(authorization: str | None) -> str:
    if authorization is None:
        raise HTTPException(401, NO_HEADER, {"WWW-Authenticate": "Bearer"})
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise HTTPException(401, NOT_BEARER, {"WWW-Authenticate": "Bearer"})
    return token


def _invalid(detail: str) -> HTTPException:
    # RFC 6750, 3: error_description holds no `"` or `\`, which the messages above never do.
    challenge = f'Bearer error="invalid_token", error_description="{detail}"'
    return HTTPException(401, detail, {"WWW-Authenticate": challenge})


def _failed_check(exc: Exception) -> str:
    """Which check a token failed, by PyJWT's exception (never its message, which may quote
    the token's claims)."""
    import jwt

    checks: tuple[tuple[type[Exception], str], ...] = (
        (jwt.ExpiredSignatureError, EXPIRED),
        (jwt.ImmatureSignatureError, NOT_YET_VALID),
        (jwt.InvalidAudienceError, AUDIENCE),
        (jwt.InvalidIssuerError, ISSUER),
        (jwt.MissingRequiredClaimError, MISSING_CLAIM),
        (jwt.InvalidAlgorithmError, ALGORITHM),
        (jwt.InvalidSignatureError, SIGNATURE),
    )
    return next((detail for kind, detail in checks if isinstance(exc, kind)), MALFORMED)


def make_issuer(settings: Settings) -> Issuer | None:
    """The issuer AUTH_ISSUER names, or None when it is not set (then nobody is signed in)."""
    if settings.auth_issuer is None or settings.auth_audience is None:
        return None
    return Issuer(settings.auth_issuer, settings.auth_audience)


async def current_user(request: Request) -> str | None:
    """The signed-in user's `sub`, or None when AUTH_ISSUER is not set."""
    issuer: Issuer | None = request.app.state.issuer
    if issuer is None:
        return None
    return await issuer.user(request.headers.get("authorization"))


User = Annotated[str | None, Depends(current_user)]


def dependencies(route: Any) -> Iterator[Any]:
    """Every callable a route's request runs through, however deep: the endpoint, its
    dependencies, its router's, and theirs."""
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is not None:
            yield dependant.call
            pending.extend(dependant.dependencies)


def takes_user(route: Any) -> bool:
    """Whether a route depends on `current_user`, directly or through another dependency."""
    return any(call is current_user for call in dependencies(route))


def log_identity(settings: Settings) -> None:
    """Say at startup whether the user routes take a signed-in user's token."""
    if settings.auth_issuer is not None:
        logger.info(
            "User routes take the signed-in user's token from AUTH_ISSUER=%s, for "
            "AUTH_AUDIENCE=%s.",
            settings.auth_issuer,
            settings.auth_audience,
        )


def document_users(openapi: dict[str, Any], app: FastAPI) -> None:
    """With AUTH_ISSUER set, declare the user's bearer scheme and its 401 on every operation
    whose route takes the user (`openapi` edited in place), whichever way it was added."""
    if app.state.issuer is None:
        return
    components = openapi.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The signed-in user's token from the sign-in provider (AUTH_ISSUER), "
        "for AUTH_AUDIENCE. The API key does not reach users' data.",
    }
    for route, _, operation in route_operations(openapi, app.router.routes):
        if takes_user(route):
            operation["security"] = [{SCHEME: []}]
            responses = operation.setdefault("responses", {})
            responses.pop("403", None)  # the API key's "writes are off": not on a user's route
            responses.update(_user_errors())


def _user_errors() -> dict[str, Any]:
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}}
    return {
        "401": {
            "description": "No valid token of a signed-in user: `detail` says which check "
            "failed (expired, audience, issuer, signature, unknown key, malformed)",
            "headers": {
                "WWW-Authenticate": {
                    "description": '`Bearer`, with `error="invalid_token"` and its '
                    "`error_description` when a token was sent",
                    "schema": {"type": "string"},
                }
            },
            "content": body,
        },
        "503": {
            "description": "The database cannot serve the request, or the sign-in provider's "
            "keys cannot be fetched; Retry-After when a retry may pass",
            "content": body,
        },
    }
