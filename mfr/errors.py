"""The errors of input a user can fix: every command of the project prints one as `error: <message>` (mfr.cli).

The message names the key (or option, or file), the value given and what is allowed, on its first line; a
DataError may add the expected layout of a dataset below it, indented. mask_synth's commands raise them too.
"""


class ConfigError(ValueError):
    """A config key (or command-line option) holds a value that cannot be used; the message names it and what is
    allowed."""


class DataError(ConfigError):
    """Input data that cannot be read: the message names the file and what is wrong (and the layout expected).

    A ConfigError, because the fix is always a path or option in the config, so entry points print its
    message instead of a traceback.
    """
