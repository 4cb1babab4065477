"""The error mfr raises for a bad configuration: entry points print its message as one line."""


class ConfigError(ValueError):
    """A config key holds a value mfr cannot use; the message names the key and what is allowed."""


class DataError(ConfigError):
    """Input data mfr cannot read: the message names the file and what is wrong (and the layout expected).

    A ConfigError, because the fix is always a path or option in the config, so entry points print its
    message instead of a traceback.
    """
