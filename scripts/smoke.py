"""`make smoke`: the checklist to run after every deploy, against a deployment or `make dev`.

One line per check, ok or FAIL; a failure says what answered and, from README's
Troubleshooting table, what to do. Exit status 0 only when every check passes. The routes come
from the deployment's own OpenAPI document: each collection (a GET answering a JSON array) must
answer 200 JSON, and each path a method it does not serve with 405 and an Allow listing its
methods. `--write` also creates a status check, replays it with its Idempotency-Key and reads it
back: it stores data, so it is opt-in. The writes send API_KEY from the environment, when
set, as the bearer token; it is never printed.
"""

import argparse
import os
import ssl
import sys
import uuid

import httpx

from harness.openapi import collections, expected_allow, parse_allow, paths, unserved_request
from harness.troubleshooting import Entry, entries, fix_for, fix_for_detail

BYPASS_VARIABLE = "VERCEL_AUTOMATION_BYPASS_SECRET"
BYPASS_HEADER = "x-vercel-protection-bypass"
KEY_VARIABLE = "API_KEY"
REQUIRED_HEADERS = {
    "x-request-id": None,
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
PAGE_TITLE = "<title>FastAPI + MongoDB on Vercel</title>"


class Stop(Exception):
    """An answer every other check would meet too: no connection, Deployment Protection, or a
    function that did not load (`GET /api/` never touches the database: a 503 there is the
    fallback's, on every route)."""


class Smoke:
    def __init__(self, client: httpx.Client, bypass_sent: bool, api_key: str = "") -> None:
        self.client = client
        self.bypass_sent = bypass_sent
        self.key_headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.table: list[Entry] = entries()
        self.api_answers: list[httpx.Response] = []
        self.failures = 0

    def report(self, ok: bool, check: str, outcome: str) -> None:
        self.failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {check}: {outcome}", flush=True)

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.report(False, f"{method} {path}", transport_failure(exc, self.client.timeout))
            raise Stop from None
        if is_protection(response) or (path == "/api/" and response.status_code == 503):
            self.report(False, f"{method} {path}", self.explain(response))
            raise Stop
        if path.startswith("/api/"):
            self.api_answers.append(response)
        return response

    def explain(self, response: httpx.Response, context: str = "") -> str:
        """Why an answer is not the one expected (`context` follows the error's detail), and the
        fix when README has one."""
        status = f"HTTP {response.status_code}"
        body = json_body(response)
        if isinstance(body, dict) and "detail" in body:
            detail = str(body["detail"])
            found = f"{status}, {detail}{context}"
            return with_fix(found, fix_for_detail(detail, self.table))
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        if is_protection(response):
            sent = (
                f"{BYPASS_VARIABLE} was sent as {BYPASS_HEADER} and refused"
                if self.bypass_sent
                else f"{BYPASS_VARIABLE} is not set"
            )
            found = f"{status}, {kind}: Deployment Protection answered before the function ({sent})"
            return with_fix(found, fix_for("401 or 403 with an HTML page", self.table))
        if body is None and response.status_code == 404:
            found = f"{status}, {kind}, not the function's JSON: the function was not detected"
            return with_fix(found, fix_for("404 on every", self.table))
        if body is None:
            vercel_error = response.headers.get("x-vercel-error")
            named = f", Vercel's error {vercel_error}" if vercel_error else ""
            return f"{status}, {kind}, not JSON{named}: not the function's answer"
        return f"{status}, {response.text[:200]}"

    def expect_json(self, method: str, path: str, status: int) -> httpx.Response | None:
        response = self.request(method, path)
        body = json_body(response)
        if response.status_code == status and body is not None:
            detail = body.get("detail") if isinstance(body, dict) else None
            self.report(
                True, f"{method} {path}", f"{status} JSON" + (f", {detail}" if detail else "")
            )
            return response
        self.report(False, f"{method} {path}", self.explain(response))
        return None

    def run(self, write: bool) -> None:
        self.expect_json("GET", "/api/", 200)
        self.check_health()
        self.expect_json("GET", f"/api/smoke-{uuid.uuid4().hex[:8]}", 404)
        document = self.check_docs()
        if document is None:
            print("      not walked: without the OpenAPI document, no route is checked")
        else:
            self.check_collections(document)
            self.check_methods(document)
        self.check_headers()
        self.check_page()
        if write:
            self.check_write()

    def check_health(self) -> None:
        response = self.request("GET", "/api/health")
        body = json_body(response)
        if response.status_code == 200 and isinstance(body, dict):
            driver = f", driver {body['driver']}" if "driver" in body else ""
            took = response.elapsed.total_seconds() * 1000
            self.report(
                True, "GET /api/health", f"200, {body.get('database')}{driver}, in {took:.0f} ms"
            )
        else:
            self.report(False, "GET /api/health", self.explain(response))

    def check_docs(self) -> dict | None:
        """The docs page and the OpenAPI document, returned when it is one."""
        docs = self.request("GET", "/api/docs")
        html = docs.headers.get("content-type", "").startswith("text/html")
        if docs.status_code == 200 and html:
            self.report(True, "GET /api/docs", "200 HTML")
        else:
            self.report(False, "GET /api/docs", self.explain(docs))
        schema = self.expect_json("GET", "/api/openapi.json", 200)
        document = None if schema is None else schema.json()
        if not isinstance(document, dict) or "paths" not in document:
            return None
        print(f"      API version {document.get('info', {}).get('version')}")
        return document

    def check_collections(self, document: dict) -> None:
        for path in collections(document):
            response = self.request("GET", path)
            body = json_body(response)
            # A signed-in user's collection (AUTH_ISSUER set) refuses a request without a token.
            signed_in = document["paths"][path]["get"].get("security") == [{"UserToken": []}]
            challenged = response.headers.get("www-authenticate", "").startswith("Bearer")
            if response.status_code == 200 and isinstance(body, list):
                self.report(True, f"GET {path}", f"200 JSON, a list of {len(body)}")
            elif signed_in and response.status_code == 401 and challenged and body is not None:
                self.report(True, f"GET {path}", "401 JSON, it takes a signed-in user's token")
            else:
                self.report(False, f"GET {path}", self.explain(response))

    def check_methods(self, document: dict) -> None:
        for path, methods in paths(document).items():
            unserved = unserved_request(path, methods)
            if unserved is None:
                continue  # it serves every method a 405 could be asked with
            method, url = unserved
            response = self.request(method, url)
            allow, expected = parse_allow(response.headers.get("allow")), expected_allow(methods)
            listed = ", ".join(sorted(allow)) or "missing"
            if response.status_code != 405 or json_body(response) is None:
                self.report(False, f"{method} {url}", self.explain(response))
            elif allow != expected:
                documented = ", ".join(sorted(expected))
                self.report(
                    False, f"{method} {url}", f"405, Allow: {listed}; the document: {documented}"
                )
            else:
                self.report(True, f"{method} {url}", f"405 JSON, Allow: {listed}")

    def check_headers(self) -> None:
        check = "X-Request-ID, nosniff and no-store"
        answers = self.api_answers
        lacking = {
            f"{name}: {value}" if value else name: sum(
                response.headers.get(name) is None
                or (value is not None and response.headers[name] != value)
                for response in answers
            )
            for name, value in REQUIRED_HEADERS.items()
        }
        missing = [f"{header} on {count}" for header, count in lacking.items() if count]
        if missing:
            self.report(
                False, check, f"of {len(answers)} /api/ answers, missing " + ", ".join(missing)
            )
        else:
            self.report(True, check, f"on all {len(answers)} /api/ answers")

    def check_page(self) -> None:
        page = self.request("GET", "/")
        if page.status_code != 200 or PAGE_TITLE not in page.text:
            found = self.explain(page) if page.status_code != 200 else "200, not the status page"
            self.report(False, "GET /", found)
        elif "content-security-policy" not in page.headers:
            self.report(
                False, "GET /", "the status page without its Content-Security-Policy header"
            )
        else:
            self.report(True, "GET /", "200, the status page, with its Content-Security-Policy")

    def check_write(self) -> None:
        key = f"smoke-{uuid.uuid4()}"
        headers = {"Idempotency-Key": key, **self.key_headers}
        post = {"json": {"client_name": "make smoke"}, "headers": headers}
        created = self.request("POST", "/api/status", **post)
        if created.status_code != 201:
            context = ""
            if created.status_code == 401:
                sent = "sent the" if self.key_headers else "has no"
                context = f" make smoke's environment {sent} {KEY_VARIABLE}."
            found = self.explain(created, context) + "; the replay and read back not run"
            self.report(False, "POST /api/status", found)
            return
        new_id = created.json()["id"]
        self.report(True, "POST /api/status", f"201, id {new_id}")
        replay = self.request("POST", "/api/status", **post)
        replayed = replay.status_code == 201 and replay.headers.get("idempotent-replayed") == "true"
        if replayed and replay.json()["id"] == new_id:
            self.report(
                True,
                "POST /api/status again, same Idempotency-Key",
                "the same id, nothing new stored",
            )
        else:
            self.report(False, "POST /api/status again, same Idempotency-Key", self.explain(replay))
        listed = self.request("GET", "/api/status?limit=100")
        body = json_body(listed)
        if listed.status_code == 200 and isinstance(body, list):
            found = [item["id"] for item in body].count(new_id)
            self.report(
                found == 1,
                "GET /api/status?limit=100",
                f"lists the new status check {found} time(s)",
            )
        else:
            self.report(False, "GET /api/status?limit=100", self.explain(listed))


def json_body(response: httpx.Response) -> object | None:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def is_protection(response: httpx.Response) -> bool:
    return response.status_code in (401, 403) and json_body(response) is None


def with_fix(found: str, fix: str | None) -> str:
    return f"{found.rstrip('.')}. Fix (README, Troubleshooting): {fix}" if fix else found


def transport_failure(exc: httpx.HTTPError, timeout: httpx.Timeout) -> str:
    """The network failure in words: a timeout, a TLS error, a refused or failed connection."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout.read} s ({type(exc).__name__})"
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        return f"TLS error: {cause}"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect ({exc}): is the URL right, and the server up (`make dev`)?"
    return f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--write", action="store_true", help="also create, replay and read back")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    args = parser.parse_args(argv)

    secret = os.environ.get(BYPASS_VARIABLE, "")
    headers = {BYPASS_HEADER: secret} if secret else {}
    # As the server reads it: HTTP drops the whitespace around a header's value anyway.
    api_key = os.environ.get(KEY_VARIABLE, "").strip() if args.write else ""
    base = args.url.rstrip("/")
    sent = [f"{BYPASS_VARIABLE} sent"] if secret else []
    sent += [f"{KEY_VARIABLE} sent with the writes"] if api_key else []
    print(f"make smoke: {base}" + (f" ({', '.join(sent)})" if sent else ""))
    with httpx.Client(base_url=base, headers=headers, timeout=args.timeout) as client:
        smoke = Smoke(client, bypass_sent=bool(secret), api_key=api_key)
        try:
            smoke.run(args.write)
        except Stop:
            print("      stopped: the checks that follow would meet the same answer")
            return 1
    print("all checks passed" if not smoke.failures else f"{smoke.failures} check(s) failed")
    return 1 if smoke.failures else 0


if __name__ == "__main__":
    sys.exit(main())
