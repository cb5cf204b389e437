"""GAN losses by name, on discriminator logits (the field's five usual choices).

``ns``       non-saturating binary cross-entropy, the Hyppo study's trainer (Keras'
             ``binary_crossentropy`` with the generator trained against the "real" label):
             D minimises BCE(real, 1) + BCE(fake, 0), G minimises BCE(fake, 1).
``bce``      the textbook minimax BCE game: the same D loss, G minimises -BCE(fake, 0),
             i.e. log(1 - D(G(z))), which saturates when D wins (kept for comparison).
``wgan-gp``  Wasserstein critic with gradient penalty (Gulrajani et al. 2017): D minimises
             E[D(fake)] - E[D(real)] + lambda E[(|grad D(x_hat)| - 1)^2], G minimises -E[D(fake)].
``hinge``    D minimises E[relu(1 - D(real))] + E[relu(1 + D(fake))], G minimises -E[D(fake)].
``lsgan``    least squares (Mao et al. 2017): D minimises (D(real) - 1)^2/2 + D(fake)^2/2,
             G minimises (D(fake) - 1)^2/2.

Label smoothing (one-sided: the real label becomes ``1 - s``) applies to ``ns``, ``bce`` and
``lsgan``; the Wasserstein and hinge losses have no labels and ignore it. Real events may
carry weights (mean 1) that weight their terms; generated events are unweighted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("ns", "bce", "wgan-gp", "hinge", "lsgan")


def _mean(x, w):
    return x.mean() if w is None else (x * w).mean()


def discriminator_loss(kind: str, real, fake, weight=None, smoothing: float = 0.0):
    """Scalar loss of the discriminator from logits ``real`` (N,) and ``fake`` (M,)."""
    if kind in ("ns", "bce"):
        # BCE(l, t) = t softplus(-l) + (1 - t) softplus(l), one softplus per side when t = 1
        real_term = F.softplus(-real) if smoothing == 0 else (1 - smoothing) * F.softplus(-real) + smoothing * F.softplus(real)
        return _mean(real_term, weight) + F.softplus(fake).mean()
    if kind == "lsgan":
        return 0.5 * _mean((real - (1 - smoothing)) ** 2, weight) + 0.5 * (fake ** 2).mean()
    if kind == "hinge":
        return _mean(F.relu(1 - real), weight) + F.relu(1 + fake).mean()
    if kind == "wgan-gp":
        return fake.mean() - _mean(real, weight)
    raise ValueError(f"unknown GAN loss {kind!r} (known: {', '.join(LOSSES)})")


def generator_loss(kind: str, fake):
    """Scalar loss of the generator from the discriminator's logits ``fake`` (M,) on its events."""
    if kind == "ns":
        return F.softplus(-fake).mean()
    if kind == "bce":
        return -F.softplus(fake).mean()
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    if kind in ("hinge", "wgan-gp"):
        return -fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r} (known: {', '.join(LOSSES)})")


def gradient_penalty(D, real, fake, cond, generator):
    """WGAN-GP penalty E[(|grad_x D(x_hat, c)| - 1)^2] on random interpolates ``x_hat`` of
    ``real`` and ``fake`` (N, d); ``cond`` (N, c) or None; ``generator`` draws the mixing."""
    alpha = torch.rand(len(real), 1, device=real.device, generator=generator)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = D(x_hat, cond)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def r1_penalty(D, real, fake, cond):
    """R1 (Mescheder, Geiger & Nowozin 2018): E_real[|grad_x D(x, c)|^2], the squared
    gradient of the discriminator's logit at the real events ``real`` (N, d). It pulls the
    discriminator flat on the data, which makes the non-saturating game converge locally to
    the equilibrium instead of orbiting it. ``fake`` (M, d) is passed for a discriminator
    that needs real and generated events in one batch (``D.joint``, BatchNorm); ``cond`` the
    conditions of ``real`` (then of ``fake``, the same ones) or None. Returns (penalty,
    logits of real and fake) so that the caller uses the same forward pass for its loss."""
    x = real.detach().requires_grad_(True)
    joint = torch.cat([x, fake]) if fake is not None else x
    c = None if cond is None else (torch.cat([cond, cond]) if fake is not None else cond)
    logits = D(joint, c)
    (grad,) = torch.autograd.grad(logits[:len(real)].sum(), x, create_graph=True)
    return grad.pow(2).sum(1).mean(), logits
