"""Name -> implementation tables whose entries are imported on first use.

Objectives (objectives/registry.py) and strategies (strategy/base.py) both map a name to a
``"module:attr"`` string, so that looking a name up never imports torch or a surrogate; user
code may register the object itself. One helper for both, so they resolve names and report
bad ones the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Iterator

from hyppo_hep.errors import UserError


def import_target(target: str, what: str, known: list[str] | None = None) -> Any:
    """The object named ``"module:attr"``; a UserError (one line) if it cannot be imported."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        names = f"a registered {what} ({', '.join(known)}) nor " if known else ""
        raise UserError(f"{what} '{target}' is neither {names}'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"{what} '{target}': cannot import module '{module_name}' ({exc})") from None
    except Exception as exc:  # noqa: BLE001 — a relative name, or the module itself failed at import
        raise UserError(f"{what} '{target}': cannot import module '{module_name}' "
                        f"({type(exc).__name__}: {exc})".replace("\n", " ")) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UserError(f"{what} '{target}': module '{module_name}' has no attribute '{attr}'") from None


class Registry(Mapping):
    """A read-mostly mapping name -> ``"module:attr"`` or object; :meth:`load` imports."""

    def __init__(self, what: str, entries: dict[str, Any]):
        self.what = what
        self._entries = dict(entries)

    def register(self, name: str, target: Any) -> None:
        self._entries[name] = target

    def load(self, name: str) -> Any:
        """The registered object (imported on first use; KeyError for an unknown name)."""
        target = self._entries[name]
        if isinstance(target, str):
            target = import_target(target, self.what, self.names())
        return target

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __getitem__(self, name: str) -> Any:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
