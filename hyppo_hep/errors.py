"""Errors that are the user's to fix: the CLI prints them as one line and exits 2."""


class UserError(Exception):
    """Bad input (config, data file, objective name, output directory): exit status 2, no traceback."""

    prefix = "error"

    def __str__(self) -> str:
        return f"{self.prefix}: {super().__str__()}"


class ConfigError(UserError):
    """A malformed campaign config. `path` is the dotted key path, e.g. ``space.lr_gen.upper``."""

    prefix = "config error"

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path} {message}" if path else message)

    def __reduce__(self):
        # picklable with both arguments, so the error crosses process boundaries (pools, MPI)
        return (type(self), (self.path, self.message))
