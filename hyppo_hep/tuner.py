"""The define-by-run API under its first name. Kept so that ``from hyppo_hep.tuner import ...``
goes on working; the code lives in modules named by what they hold:

- hyppo_hep/hp.py: the hp API (``HP``, ``make_param``)
- hyppo_hep/discovery.py: running ``build(hp)`` to learn the space (``discover``)
- hyppo_hep/conditional_space.py: ``ConditionalSpace`` and ``header_space`` (its journal form)
- hyppo_hep/define_by_run.py: the objective (``DefineByRun``, the registry's ``define_by_run``)
"""

from hyppo_hep.conditional_space import ConditionalSpace, header_space
from hyppo_hep.define_by_run import DefineByRun, define_by_run
from hyppo_hep.discovery import discover
from hyppo_hep.hp import HP, make_param

__all__ = ["HP", "make_param", "discover", "ConditionalSpace", "header_space", "DefineByRun", "define_by_run"]
