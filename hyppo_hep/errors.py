"""Errors that are the user's to fix: the CLI prints them as one line and exits 2."""


class UserError(Exception):
    """Bad input (config, data file, objective name, output directory): exit status 2, no traceback."""

    prefix = "error"

    def __str__(self) -> str:
        # one line whatever the message holds (a key or file name may contain a newline)
        text = super().__str__().replace("\r", "\\r").replace("\n", "\\n")
        return f"{self.prefix}: {text}"


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



class OutputError(UserError):
    """The output cannot be written (full disk, the output directory deleted during the run):
    exit status 4, one line; the journal keeps every event written before."""

    exit_status = 4


class SearchFailed(RuntimeError):
    """Every trial of a search failed (``minimize``): the message quotes the last error."""


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM (Slurm's warning before the time limit) or SIGINT reached the master: the run
    stopped cleanly and its journal is resumable. Exit status 128 + signal number."""

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        self.signame = signal.Signals(signum).name
        super().__init__(self.signame)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum
