"""A test OpenID issuer on 127.0.0.1, standing in for a sign-in provider: a discovery document
and a JWKS over HTTP (or HTTPS, with a certificate made for it), RSA and EC keys made when it
starts, tokens minted by the tests; keys rotate, and the issuer stops and starts again.

`python -m harness.issuer serve` is `make issuer` (for `make dev`); `python -m harness.issuer
token alice` is `make token USER=alice`, a token from that running issuer. Never deployed.
"""

import argparse
import datetime
import ipaddress
import json
import secrets
import ssl
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from urllib.request import urlopen

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

DEFAULT_PORT = 8001
DEFAULT_AUDIENCE = "local-api"
TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class SigningKey:
    """A key pair of one algorithm, named by its `kid`."""

    kid: str
    alg: str
    private: Any

    @classmethod
    def make(cls, alg: str = "RS256") -> "SigningKey":
        if alg == "RS256":
            private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"RS256 or ES256, not {alg}")
        return cls(f"{alg.lower()}-{secrets.token_hex(6)}", alg, private)

    def jwk(self) -> dict[str, Any]:
        """The public key as the JWKS publishes it."""
        algorithm = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        public = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class Issuer:
    """Serves `/.well-known/openid-configuration`, `/jwks.json` (every published key) and
    `/token?sub=...` (a token, for `make token`) at `url` until `stop()`; `start()` serves again
    on the same port. `current[alg]` signs the tokens `token()` mints."""

    def __init__(
        self, audience: str = DEFAULT_AUDIENCE, *, port: int = 0, tls: bool = False
    ) -> None:
        self.audience = audience
        self.current = {alg: SigningKey.make(alg) for alg in ("RS256", "ES256")}
        self.published = list(self.current.values())
        self.jwks_requests = 0
        self.port = port
        self._folder = tempfile.TemporaryDirectory(prefix="issuer-")
        self.ca_file = self._certificate() if tls else None
        self._server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_file else 'http'}://127.0.0.1:{self.port}"

    def token(
        self,
        sub: str,
        *,
        key: SigningKey | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: float = TOKEN_SECONDS,
        **claims: Any,
    ) -> str:
        """A token for `sub`, signed by `key` (else the current RSA key), valid for this
        issuer and its audience unless told otherwise."""
        key = key or self.current["RS256"]
        now = int(time.time())
        payload = {
            "iss": issuer or self.url,
            "aud": audience or self.audience,
            "sub": sub,
            "iat": now,
            "exp": now + int(expires_in),
            **claims,
        }
        return jwt.encode(payload, key.private, algorithm=key.alg, headers={"kid": key.kid})

    def rotate(self, alg: str = "RS256", *, keep_old: bool = True) -> SigningKey:
        """Publish a new key and sign with it from now on; `keep_old=False` withdraws the old."""
        new = SigningKey.make(alg)
        if not keep_old:
            self.published.remove(self.current[alg])
        self.published.append(new)
        self.current[alg] = new
        return new

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        if self.ca_file:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.ca_file, Path(self._folder.name) / "key.pem")
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        # A short poll: stop() (shutdown) waits for it, and tests stop an issuer each.
        serve = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        serve.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.stop()
        self._folder.cleanup()

    def __enter__(self) -> "Issuer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _documents(self, path: str) -> dict[str, Any] | None:
        if path == "/.well-known/openid-configuration":
            return {
                "issuer": self.url,
                "jwks_uri": f"{self.url}/jwks.json",
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
            }
        if path == "/jwks.json":
            self.jwks_requests += 1
            return {"keys": [key.jwk() for key in self.published]}
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                sub = parse_qs(url.query).get("sub", [""])[0]
                document = issuer._documents(url.path)
                if url.path == "/token" and sub:
                    self._answer(200, issuer.token(sub).encode(), "text/plain")
                elif document is None:
                    self._answer(404, b'{"error": "not found"}', "application/json")
                else:
                    self._answer(200, json.dumps(document).encode(), "application/json")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def _certificate(self) -> str:
        """A self-signed certificate for 127.0.0.1, written with its key to the issuer's folder:
        a client trusts it through `ca_file` (SSL_CERT_FILE, for Python's default context)."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test issuer")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        folder = Path(self._folder.name)
        (folder / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return str(folder / "cert.pem")


def main() -> None:
    parser = argparse.ArgumentParser(description="A test OpenID issuer for make dev.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the issuer until interrupted")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--audience", default=DEFAULT_AUDIENCE)
    mint = commands.add_parser("token", help="print a token for SUB from the running issuer")
    mint.add_argument("sub")
    mint.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    if args.command == "token":
        try:
            url = f"http://127.0.0.1:{args.port}/token?sub={quote(args.sub)}"
            with urlopen(url, timeout=5) as r:
                print(r.read().decode())
        except OSError as exc:
            sys.exit(f"No test issuer answers on port {args.port} ({exc}): run make issuer first.")
        return
    issuer = Issuer(args.audience, port=args.port)
    print(
        f"Test issuer at {issuer.url}, for testing only (anyone on this machine can get a "
        "token from it; its keys are gone when it stops). In another terminal:\n"
        f"  AUTH_ISSUER={issuer.url} AUTH_AUDIENCE={issuer.audience} make dev\n"
        "and a user's token, valid for an hour:\n"
        "  make token USER=alice",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        issuer.close()


if __name__ == "__main__":
    main()
