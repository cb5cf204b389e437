"""The simulator moved to :mod:`hyppo_hep.simulate` (it runs a whole Search, not only trials);
this name stays importable for code written before the move."""

from hyppo_hep.simulate import MODES, DurationModel, SimResult, SimulatedExecutor, simulate  # noqa: F401
