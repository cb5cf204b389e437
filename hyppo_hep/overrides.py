"""``--set key.path=value``: override any key of a campaign config from the command line,
e.g. ``--set objective.epochs=20 --set trials=3 --set stages[1].strategy.k_std=1``.

The value is read as YAML (``20`` an int, ``1e-4`` a float, ``[a, b]`` a list, ``true`` a
bool, anything else a string). Missing mappings on the path are created; a registered
objective given by name alone (``objective: gan_dimuon``) becomes ``{name: gan_dimuon}``
so that its options can be set. The result is parsed and validated like any config.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from hyppo_hep.errors import UserError

_PART = re.compile(r"([A-Za-z_][\w\-]*)((?:\[\d+\])*)$")


def _path(key: str, item: str) -> list:
    """``stages[1].strategy`` -> ["stages", 1, "strategy"]."""
    parts: list = []
    for piece in key.split("."):
        m = _PART.match(piece)
        if not m:
            raise UserError(f"--set {item}: '{piece}' is not a key (use key.path=value, e.g. objective.epochs=20)")
        parts.append(m.group(1))
        parts += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return parts


def _value(text: str, item: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text  # not YAML: the string as written


def _child(node: Any, key, item: str, walked: str) -> Any:
    if isinstance(key, int):
        if not isinstance(node, list) or not -len(node) <= key < len(node):
            if not isinstance(node, list):
                raise UserError(f"--set {item}: {walked or 'the config'} is not a list (the config has no such entries)")
            raise UserError(f"--set {item}: {walked} has {len(node)} entries, no [{key}]")
        return node[key]
    if not isinstance(node, dict):
        raise UserError(f"--set {item}: {walked} is not a mapping")
    return node.setdefault(key, {})


def apply_overrides(raw: Any, items: list[str] | None) -> Any:
    """A deep copy of the config mapping ``raw`` with each ``key.path=value`` of ``items`` set."""
    if not items:
        return raw
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError("--set: the config is not a mapping")
    out = copy.deepcopy(raw)
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {item}: expected key.path=value")
        path = _path(key.strip(), item)
        if path[0] == "objective" and len(path) > 1 and isinstance(out.get("objective"), str):
            out["objective"] = {"name": out["objective"]}
        node, walked = out, ""
        for k in path[:-1]:
            node = _child(node, k, item, walked)
            walked += f"[{k}]" if isinstance(k, int) else (f".{k}" if walked else k)
        last = path[-1]
        if isinstance(last, int):
            _child(node, last, item, walked)  # checks the index
        elif not isinstance(node, dict):
            raise UserError(f"--set {item}: {walked} is not a mapping")
        node[last] = _value(text, item)
    return out


def load_config(config: str | None, overrides: list[str] | None = None):
    """The validated CampaignConfig of ``config`` (None: the built-in default campaign) with
    the ``--set`` overrides applied before validation."""
    from hyppo_hep.config import DEFAULT_CONFIG, load_yaml, parse_config

    path = config or DEFAULT_CONFIG
    return parse_config(apply_overrides(load_yaml(path), overrides), source=str(path))
