"""Where status checks are stored: the collection and the index its newest-first listing
reads."""

from backend import paging

STATUS_CHECKS = "status_checks"
ORDER = "timestamp"  # newest first, then by id
INDEXES = (paging.index(STATUS_CHECKS, ORDER),)
