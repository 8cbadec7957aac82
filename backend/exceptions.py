"""The project's exceptions. Standard library only: settings.py and db.py raise them without
importing FastAPI.

Exception
├── SettingsError         an environment variable is missing or invalid (raised at start-up)
└── DatabaseUnavailable   the database cannot serve this request (503)
"""


class SettingsError(Exception):
    """An environment variable is missing or invalid; the message names it."""


class DatabaseUnavailable(Exception):
    """The database cannot serve this request; the message says why and what to do.

    A `transient` failure (a timeout, a dropped connection) may pass on a retry: its 503 says
    when with Retry-After. A configuration problem will not, and gets none.
    """

    def __init__(self, detail: str, *, transient: bool = False) -> None:
        super().__init__(detail)
        self.transient = transient
