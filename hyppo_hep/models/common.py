"""Building blocks named by strings in configs: activations, initialisers, optimisers.

Names follow the Keras spellings used in the AutoML-for-VAE and classifier studies
(``glorot_uniform``, ``lecun_normal``, ``softsign``, ...) so that their search spaces carry
over. An unknown name raises UserError listing the known ones.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from hyppo_hep.errors import UserError

ACTIVATIONS = {
    "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "elu": nn.ELU, "selu": nn.SELU,
    "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softsign": nn.Softsign,
    "softplus": nn.Softplus, "swish": nn.SiLU, "silu": nn.SiLU, "linear": nn.Identity,
}


def _normal(std):
    return lambda w: nn.init.normal_(w, 0.0, std)


def _fans(w):
    fan_out, fan_in = w.shape[0], (w[0].numel() if w.dim() > 1 else 1)
    return fan_in, fan_out


def _scaled(kind: str, mode: str, scale: float):
    """Keras VarianceScaling: variance ``scale / fan`` from a normal or uniform law."""

    def init(w):
        fan_in, fan_out = _fans(w)
        fan = {"in": fan_in, "out": fan_out, "avg": (fan_in + fan_out) / 2}[mode]
        var = scale / max(fan, 1)
        if kind == "normal":
            # Keras truncates at 2 sigma; the truncated law's std is 0.8796 of the untruncated.
            std = math.sqrt(var) / 0.87962566103423978
            return nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)
        limit = math.sqrt(3 * var)
        return nn.init.uniform_(w, -limit, limit)

    return init


INITIALIZERS = {
    "random_normal": _normal(0.05), "random_uniform": lambda w: nn.init.uniform_(w, -0.05, 0.05),
    "zeros": nn.init.zeros_, "ones": nn.init.ones_,
    "glorot_uniform": _scaled("uniform", "avg", 1.0), "glorot_normal": _scaled("normal", "avg", 1.0),
    "he_uniform": _scaled("uniform", "in", 2.0), "he_normal": _scaled("normal", "in", 2.0),
    "lecun_uniform": _scaled("uniform", "in", 1.0), "lecun_normal": _scaled("normal", "in", 1.0),
    "variance_scaling": _scaled("normal", "in", 1.0),
}

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop,
              "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "nadam": torch.optim.NAdam}


def _lookup(table: dict, name, what: str):
    key = str(name).lower()
    if key not in table:
        raise UserError(f"unknown {what} '{name}' (known: {', '.join(sorted(table))})")
    return table[key]


def activation(name: str) -> nn.Module:
    """A fresh activation module for ``name``."""
    return _lookup(ACTIVATIONS, name, "activation")()


def initializer(name: str):
    """An in-place initialiser ``f(tensor)`` for ``name``."""
    return _lookup(INITIALIZERS, name, "initializer")


def optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """An optimiser over ``params`` by name (adam, adamw, rmsprop, sgd, adagrad, nadam)."""
    return _lookup(OPTIMIZERS, name, "optimizer")(params, lr=lr, weight_decay=weight_decay)


def initialise(module: nn.Module, kernel: str, bias: str) -> None:
    """Apply named initialisers to every Linear/Conv weight and bias of ``module``."""
    k, b = initializer(kernel), initializer(bias)
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            with torch.no_grad():
                k(m.weight)
                if m.bias is not None:
                    b(m.bias)


def count_parameters(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())
