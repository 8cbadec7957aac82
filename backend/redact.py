"""Removes MongoDB credentials from text before it reaches a response or a log line.

Standard library only: the Vercel entrypoint's fallback app relies on it when nothing else loads.
"""

import re
from urllib.parse import unquote, urlsplit

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^@/\s'\"]+@")
MASK = "***"


def redact(text: str, *urls: str | None) -> str:
    """Mask every `scheme://user:password@` in `text`, and each of `urls` and its password."""
    for url in filter(None, urls):
        text = text.replace(url, MASK)
        for password in _passwords(url):
            text = text.replace(password, MASK)
    return _USERINFO.sub(rf"\g<scheme>{MASK}@", text)


def _passwords(url: str) -> set[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if not password:
        # Unescaped `@` or `:` in a password defeat urlsplit: take what lies between the
        # first `:` after the scheme and the last `@` instead.
        match = re.match(r"[^:]+://[^:@/]*:(?P<password>.+)@[^@]*$", url)
        password = match["password"] if match else None
    return {p for p in (password, password and unquote(password)) if p and len(p) >= 3}
