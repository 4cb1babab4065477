"""Shared behaviour of mfr's entry points: a bad config ends the run with one line, not a traceback."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from hydra.errors import InstantiationException

from mfr.errors import ConfigError


def _config_error(exc: BaseException) -> ConfigError | None:
    while exc is not None:
        if isinstance(exc, ConfigError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


@contextmanager
def one_line_errors():
    try:
        yield
    except (ConfigError, InstantiationException) as exc:
        cause = _config_error(exc)
        if cause is None:
            raise
        print(f"error: {cause}", file=sys.stderr)
        sys.exit(2)
