"""Training checkpoints of multi-fidelity searches: where they live and when they go.

A promotion (Hyperband, ASHA, BOHB) evaluates a configuration again at a larger epoch
budget with the same trial seeds; an objective that checkpoints (the built-in GANs and the
VAE, or any objective using :func:`hyppo_hep.fidelity.save_checkpoint`) continues the
lower rung's training instead of starting again.

Layout: ``<out>/checkpoints/config<id>/trial<k>.pt``, ``id`` the configuration's rung-0 set
id (``SetRecord.config_id``), ``k`` the trial index. Each promotion overwrites the file with
the longer training (atomically: temporary file, then ``os.replace``).

Cleanup policy (:meth:`CheckpointStore.prune`, run by the Search whenever a set finishes):
a configuration's checkpoints are kept while one of its sets is pending or the strategy
says it can still be promoted (``strategy.can_promote(history, config_id)``; a strategy
without that method keeps them until the search ends), and removed otherwise: with
Hyperband, when the next rung of its bracket is full without it, or when it reached the
bracket's last rung; with ASHA, when it reached the top rung. A search that ends with its
budget spent removes all of them; an interrupted one keeps them for ``--resume``; a fresh
(non-resumed) run starts by removing any left by an earlier run in the same directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hyppo_hep.history import PENDING

DIR_NAME = "checkpoints"


class CheckpointStore:
    """The checkpoint directory of one search (``root``, absolute, shared with the workers)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()

    def config_dir(self, config_id: int) -> str:
        return str(self.root / f"config{int(config_id)}")

    def configs(self) -> list[int]:
        """Configuration ids with a checkpoint directory on disk."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        return [int(n[6:]) for n in names if n.startswith("config") and n[6:].isdigit()]

    def remove(self, config_id: int) -> None:
        shutil.rmtree(self.config_dir(config_id), ignore_errors=True)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def prune(self, history, strategy) -> list[int]:
        """Remove the checkpoints no promotion can use any more (the policy above); returns
        the configuration ids removed."""
        can_promote = getattr(strategy, "can_promote", None)
        if can_promote is None:
            return []
        live = {r.lineage for r in history.sets.values() if r.state == PENDING}
        gone = [c for c in self.configs() if c not in live and not can_promote(history, c)]
        for c in gone:
            self.remove(c)
        return gone

    def disk_bytes(self) -> int:
        """Bytes of all checkpoint files now on disk (the policy's cost)."""
        return sum(f.stat().st_size for f in self.root.rglob("*.pt")) if self.root.exists() else 0
