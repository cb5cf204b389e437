"""The one place the contract suites import the plain trial data from.

``TrialSpec``, ``TrialResult`` and ``Proposal`` are moving to ``hyppo_hep.trial`` (the
ground floor); their old homes re-export them, so either import gives the same classes.
"""

try:
    from hyppo_hep.trial import Proposal, TrialResult, TrialSpec
except ImportError:  # before the move
    from hyppo_hep.driver import Proposal
    from hyppo_hep.executor.base import TrialResult, TrialSpec

__all__ = ["Proposal", "TrialResult", "TrialSpec"]
