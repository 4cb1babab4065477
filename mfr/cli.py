"""How every entry point ends on bad input: `error: <message>` on stderr and exit status 2, never a traceback.

Bad input is a ConfigError (mfr.errors), raised by the config contract (mfr.config), by a data reader (DataError),
or by argparse through `ArgumentParser` below; Hydra wraps one raised while it instantiates a config, so the
exception's causes are searched too. Anything else is a bug and keeps its traceback. Hydra entry points run their
body `with one_line_errors():`, argparse ones are decorated `@one_line_errors()`; both exit the same way, as
argparse itself does (SystemExit with status 2).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from typing import NoReturn

from mfr.errors import ConfigError

EXIT_STATUS = 2  # argparse's for a usage error


def config_error(exc: BaseException | None) -> ConfigError | None:
    """The ConfigError `exc` is, or was raised from (`raise ... from`), if any."""
    while exc is not None:
        if isinstance(exc, ConfigError):
            return exc
        exc = exc.__cause__
    return None


@contextmanager
def one_line_errors():
    """End the process with `error: <message>` and exit status 2 when the block raises bad input (see above)."""
    try:
        yield
    except Exception as exc:
        error = config_error(exc)
        if error is None:
            raise
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(EXIT_STATUS)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose complaints (a missing argument, an unknown option, a value of the wrong type) are
    ConfigErrors, so they end the run on the one error path: one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see {self.prog} --help)")
