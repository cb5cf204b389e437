"""Objectives: what a worker trains. See registry.py for how they are found by name."""

from hyppo_hep.objectives.registry import ObjectiveRef, available, register, resolve

__all__ = ["ObjectiveRef", "available", "register", "resolve"]
