"""hyppo_hep.seeding: seeded training is bit-identical on CPU; checkpoints load weights only."""

from pathlib import Path

import pytest


def _train_tiny(seed):
    import torch

    from hyppo_hep.seeding import seed_everything

    seed_everything(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(64, 4)
    y = x.sum(dim=1, keepdim=True) ** 2
    for _ in range(30):
        idx = torch.randint(0, 64, (16,))
        loss = ((net(x[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()], loss.item()


def test_seeded_training_is_reproducible_on_cpu():
    import torch

    (a, la), (b, lb), (c, lc) = _train_tiny(5), _train_tiny(5), _train_tiny(6)
    assert la == lb and all(torch.equal(p, q) for p, q in zip(a, b)), "same seed: bit-identical training"
    assert la != lc, "another seed trains differently"


def test_checkpoints_load_weights_only(tmp_path):
    import torch

    from hyppo_hep.errors import UserError
    from hyppo_hep.seeding import load_checkpoint, save_checkpoint

    save_checkpoint({"w": torch.arange(3.0)}, tmp_path / "ok.pt")
    assert torch.equal(load_checkpoint(tmp_path / "ok.pt")["w"], torch.arange(3.0))
    torch.save({"w": Path("/etc")}, tmp_path / "code.pt")  # an arbitrary object: needs full unpickling
    with pytest.raises(UserError, match="cannot be loaded safely"):
        load_checkpoint(tmp_path / "code.pt")
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
