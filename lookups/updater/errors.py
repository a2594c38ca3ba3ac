"""Why an update did not happen. Each carries a message for people; the installed database is unchanged."""


class UpdateFailed(Exception):
    """An update that did not happen; the installed database is unchanged. `message` is for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UpdateLocked(UpdateFailed):
    """Another run holds the lock on GEOIP_PATH."""


class AccessRefused(UpdateFailed):
    """HTTP 401 or 403: no retry helps; the caller says what to fix."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


class NotFound(UpdateFailed):
    """HTTP 404 or 410."""
