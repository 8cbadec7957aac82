"""Where status checks are stored: the collection, the index its newest-first listing reads,
and its shape (the first: nothing has changed yet)."""

from backend import paging
from backend.models import StatusCheckPublic
from backend.shapes import Shape

STATUS_CHECKS = "status_checks"
ORDER = "timestamp"  # newest first, then by id
INDEXES = (paging.index(STATUS_CHECKS, ORDER),)
SHAPE = Shape(STATUS_CHECKS, StatusCheckPublic)
