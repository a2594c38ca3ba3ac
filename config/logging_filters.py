"""Logging filters that LOGGING in config/settings.py attaches to loggers."""

import logging


class OneLineWarning(logging.Filter):
    """A record as one WARNING line, without its traceback.

    For what anyone can provoke at will (a wrong Host header): Django logs each at ERROR with a
    traceback of about fifteen lines, which lets a stranger fill the log cheaply.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True
