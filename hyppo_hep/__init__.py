"""hyppo_hep: variability-aware surrogate hyperparameter optimisation for HEP models.

Importing the package stays cheap: torch, mpi4py and matplotlib are imported only by the
modules that need them.
"""

__version__ = "0.1.0"

from hyppo_hep.errors import ConfigError, UserError  # noqa: E402

__all__ = ["minimize", "AskTell", "Space", "DefineByRun", "HP", "load", "ConfigError", "UserError", "__version__"]


def __getattr__(name):
    # Lazy so that `import hyppo_hep` does not pull the driver and its imports.
    if name in ("minimize", "AskTell"):
        from hyppo_hep import api

        return getattr(api, name)
    if name == "DefineByRun":
        from hyppo_hep.define_by_run import DefineByRun

        return DefineByRun
    if name == "HP":
        from hyppo_hep.hp import HP

        return HP
    if name == "load":  # pandas is imported when load() is called, not here
        from hyppo_hep.analysis.load import load

        return load
    if name == "Space":
        from hyppo_hep.space import Space

        return Space
    raise AttributeError(name)
