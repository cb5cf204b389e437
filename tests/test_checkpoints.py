"""Checkpoint continuation of multi-fidelity promotions (issue 12, item 2): a promotion
trains only the epochs its lower rung did not, the files go when no promotion can use them,
a resumed campaign continues, objectives without checkpoints still work."""

import os
import textwrap
from collections import Counter

import pytest

from hyppo_hep import fidelity
from hyppo_hep.campaign import make_executor, run_campaign
from hyppo_hep.checkpoints import CheckpointStore
from hyppo_hep.config import parse_config
from hyppo_hep.driver import Driver
from hyppo_hep.errors import RunInterrupted
from hyppo_hep.history import PENDING
from hyppo_hep.search import Search, StopReason
from hyppo_hep.strategy import build
from hyppo_hep.strategy.hyperband import hyperband_brackets

# A user objective: "training" adds 1 per epoch to w; every trained epoch is one line of
# the log, which is what the tests count. ``ckpt`` continues from the checkpoint and saves
# after every epoch; ``plain`` never checkpoints. KILL names a file: when it exists, the
# objective sends SIGTERM to its process after logging the first epoch of a promotion.
USER = """
import os, signal
from hyppo_hep import fidelity
LOG, KILL = {log!r}, {kill!r}

def _train(params, trial, seed, checkpoints):
    state = fidelity.load_checkpoint() if checkpoints else None
    w, start = (0.0, 0) if state is None else (float(state["w"]), int(state["epoch"]))
    x = params["x"]
    for epoch in range(start, fidelity.epochs(params["epochs"])):
        w += 1.0
        with open(LOG, "a") as fh:
            fh.write(f"{{x}} {{trial}} {{epoch}} {{params['epochs']}}\\n")
        if start and os.path.exists(KILL):
            os.remove(KILL)
            os.kill(os.getpid(), signal.SIGTERM)
        stop = fidelity.report(epoch, (x - 0.3) ** 2 + 1.0 / w + 0.01 * seed % 7)
        if checkpoints:
            fidelity.save_checkpoint({{"w": w, "epoch": epoch + 1}})
        if stop:
            break
    return fidelity.current().best_score()

def ckpt(params, trial, seed, device):
    return _train(params, trial, seed, True)

def plain(params, trial, seed, device):
    return _train(params, trial, seed, False)
"""

SPACE = {"x": {"lower": 0, "upper": 100, "scaling": 0.01}, "epochs": 9}
# Hyperband R = 9, eta = 3, one iteration: (9, 1) (3, 3) (1, 9) / (5, 3) (1, 9) / (3, 9)
FROM_SCRATCH = sum(n * r for rungs in hyperband_brackets(9, 3) for n, r in rungs)  # epochs per trial: 78
CONTINUED = 9 * 1 + 3 * (3 - 1) + 1 * (9 - 3) + 5 * 3 + 1 * (9 - 3) + 3 * 9  # 69


@pytest.fixture
def user(tmp_path):
    # a module name of its own per test: an imported module stays in sys.modules
    module = f"ckuser_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{module}.py").write_text(USER.format(log=str(tmp_path / "epochs.log"), kill=str(tmp_path / "kill")))
    (tmp_path / "module").write_text(module)
    return tmp_path


def config(user, name, out="run", executor="serial", budget=100, **extra):
    raw = {"objective": f"{(user / 'module').read_text()}:{name}", "space": SPACE, "trials": 2, "budget": budget, "seed": 4,
           "out": str(user / out), "executor": executor, "strategy": {"name": "hyperband", "iterations": 1}, **extra}
    return parse_config(raw, str(user / "config.yaml"))


def log_lines(user) -> list[tuple]:
    path = user / "epochs.log"
    return [tuple(line.split()) for line in path.read_text().splitlines()] if path.exists() else []


def test_promotions_train_only_the_epochs_their_lower_rung_did_not(user):
    h = run_campaign(config(user, "ckpt"), quiet=True).history
    lines = log_lines(user)
    assert len(lines) == 2 * CONTINUED  # 138 epochs trained, not 2 * 78
    for r in h.sets.values():
        for t in r.trials.values():  # the whole curve is the trial's: restored and new epochs
            assert len(t.info["epoch_scores"]) == t.info["epochs_run"] == r.resource
            if r.rung:
                below = max((s for s in h.sets.values() if s.lineage == r.lineage and s.rung < r.rung),
                            key=lambda s: s.rung)
                assert t.info["resumed_from"] == below.resource
                assert t.info["epoch_scores"][:below.resource] == below.trials[t.trial].info["epoch_scores"]
            else:
                assert "resumed_from" not in t.info
    # each configuration's trial trains each epoch once (epoch e of config x, trial k: one line)
    assert max(Counter((x, k, e) for x, k, e, _ in lines).values()) == 1
    assert not (user / "run" / "checkpoints").exists()  # the search ended: all removed


def test_an_objective_without_checkpoints_trains_every_rung_from_scratch(user):
    h = run_campaign(config(user, "plain"), quiet=True).history
    assert len(log_lines(user)) == 2 * FROM_SCRATCH
    assert all("resumed_from" not in t.info for r in h.sets.values() for t in r.trials.values())


def test_same_results_with_and_without_continuation_for_a_deterministic_objective(user):
    a = run_campaign(config(user, "ckpt", out="a"), quiet=True).history
    b = run_campaign(config(user, "plain", out="b"), quiet=True).history
    assert [(r.params, r.mean) for r in a.sets.values()] == [(r.params, r.mean) for r in b.sets.values()]


def test_cleanup_keeps_a_configuration_while_it_can_be_promoted(user):
    cfg = config(user, "ckpt")
    space = cfg.space
    strategy = build("hyperband", {"iterations": 1}, space, 100)
    store_dir = user / "store"
    search = Search(space, strategy, budget=100, trials=2, seed=4, checkpoint_dir=str(store_dir))
    store = CheckpointStore(store_dir)
    seen = []

    def check(rec, hist):
        on_disk = set(store.configs())
        configs = {r.lineage for r in hist.sets.values()}
        for c in configs:
            mine = [r for r in hist.sets.values() if r.lineage == c]
            pending = any(r.state == PENDING for r in mine)
            keep = pending or strategy.can_promote(hist, c)
            if not pending:  # a finished configuration's files exist iff it may be promoted
                assert (c in on_disk) == keep, (c, [(r.rung, r.state) for r in mine])
        seen.append(len(on_disk))

    objective_ref = cfg.objective
    ex = make_executor(cfg, objective_ref)
    try:
        Driver(search, ex, on_set_finished=check).run()
    finally:
        ex.close()
    # configurations with checkpoints after each set (serial: one set at a time). Bracket 0:
    # rung 0 fills up to 8, its 9th set completes the rung and only the 3 promoted stay;
    # then 1 (the one promoted to the last rung), then none. Bracket 1: 5 at 3 epochs, 1
    # promoted. Bracket 2 starts at the last rung: nothing to keep.
    assert seen == [1, 2, 3, 4, 5, 6, 7, 8, 3, 3, 3, 1, 0, 1, 2, 3, 4, 1, 0, 0, 0, 0]
    search.end(StopReason.SPACE_EXHAUSTED)
    assert not store_dir.exists()


def test_a_resumed_campaign_continues_from_the_checkpoints(user):
    (user / "kill").write_text("")
    with pytest.raises(RunInterrupted):
        run_campaign(config(user, "ckpt"), quiet=True)
    assert (user / "run" / "checkpoints").exists()  # an interrupted run keeps them for --resume
    killed = len(log_lines(user))
    h = run_campaign(config(user, "ckpt"), resume=True, quiet=True).history
    # the interrupted promotion re-trains the one epoch it logged but did not checkpoint
    assert len(log_lines(user)) == 2 * CONTINUED + 1 and killed < 2 * CONTINUED
    whole = run_campaign(config(user, "ckpt", out="whole"), quiet=True).history
    assert [(r.params, r.mean) for r in h.sets.values()] == [(r.params, r.mean) for r in whole.sets.values()]


def test_a_fresh_run_does_not_continue_an_earlier_runs_checkpoints(user):
    stale = user / "run" / "checkpoints" / "config0"
    stale.mkdir(parents=True)
    (stale / "trial0.pt").write_bytes(b"not a checkpoint of this run")
    run_campaign(config(user, "ckpt"), quiet=True)
    assert len(log_lines(user)) == 2 * CONTINUED


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_continuation_under_the_process_pool(user, isolation):
    run_campaign(config(user, "ckpt", executor={"kind": "pool", "workers": 2}, isolation=isolation), quiet=True)
    assert len(log_lines(user)) == 2 * CONTINUED


def test_a_checkpoint_of_another_seed_is_not_continued(tmp_path):
    with fidelity.trial_context(fidelity.Fidelity(3, checkpoint=str(tmp_path)), trial=0, seed=1):
        fidelity.save_checkpoint({"w": 1.0})
    with fidelity.trial_context(fidelity.Fidelity(9, checkpoint=str(tmp_path)), trial=0, seed=2) as ctx:
        assert fidelity.load_checkpoint() is None and ctx.resumed_from == 0
    with fidelity.trial_context(fidelity.Fidelity(9, checkpoint=str(tmp_path)), trial=0, seed=1) as ctx:
        assert fidelity.load_checkpoint() == {"w": 1.0}
    assert fidelity.checkpoint_path() is None and fidelity.save_checkpoint({"w": 1.0}) is None  # outside a trial
    assert os.listdir(tmp_path) == ["trial0.pt"]  # written atomically: no temporary file left
    (tmp_path / "trial1.pt").write_bytes(b"half a file")  # unreadable: the training starts again
    with fidelity.trial_context(fidelity.Fidelity(9, checkpoint=str(tmp_path)), trial=1, seed=1) as ctx:
        assert fidelity.load_checkpoint() is None and ctx.resumed_from == 0


# --- the built-in objectives -------------------------------------------------------------------

GAN_P = {"batch_size": 128, "noise_dim": 8, "gen_layersize": 32, "disc_layersize": 32}


@pytest.mark.parametrize("schedule", ["constant", "linear"])
def test_gan_continued_from_3_epochs_to_9_trains_6(tmp_path, schedule):
    from hyppo_hep.objectives.gan import gan_dimuon

    obj = gan_dimuon(n_events=1200, cache_dir=str(tmp_path / "cache"))
    p = dict(GAN_P, lr_schedule=schedule, dropout=0.1)
    with fidelity.trial_context(fidelity.Fidelity(9), trial=0, seed=5):
        whole = obj({**p, "epochs": 9}, 0, 5, "cpu")
    ck = fidelity.Fidelity(3, checkpoint=str(tmp_path / "ck"))
    with fidelity.trial_context(ck, trial=0, seed=5):
        low = obj({**p, "epochs": 3}, 0, 5, "cpu")
    with fidelity.trial_context(fidelity.Fidelity(9, checkpoint=ck.checkpoint), trial=0, seed=5) as ctx:
        high = obj({**p, "epochs": 9}, 0, 5, "cpu")
        assert ctx.resumed_from == 3
    assert (low["epochs_trained"], high["epochs_trained"], whole["epochs_trained"]) == (3, 6, 9)
    assert high["epoch_scores"][:3] == low["epoch_scores"]
    if schedule == "constant":  # the whole state is restored: exactly the uninterrupted training
        assert high["epoch_scores"] == whole["epoch_scores"] and high["jsd"] == whole["jsd"]
    else:  # the 9-epoch schedule from epoch 3 on, not the 3-epoch one's 1% rate
        assert high["epoch_scores"] != whole["epoch_scores"]


def test_vae_continued_from_1_epoch_to_3_trains_2(tmp_path):
    from hyppo_hep.objectives.vae import vae_shower

    obj = vae_shower(n_events=200, val_events=40, grid=(8, 8, 8), cache_dir=str(tmp_path / "cache"))
    p = {"enc_width": 40, "dec_width": 40}
    with fidelity.trial_context(fidelity.Fidelity(3), trial=1, seed=3):
        whole = obj({**p, "epochs": 3}, 1, 3, "cpu")
    ck = str(tmp_path / "ck")
    with fidelity.trial_context(fidelity.Fidelity(1, checkpoint=ck), trial=1, seed=3):
        low = obj({**p, "epochs": 1}, 1, 3, "cpu")
    with fidelity.trial_context(fidelity.Fidelity(3, checkpoint=ck), trial=1, seed=3):
        high = obj({**p, "epochs": 3}, 1, 3, "cpu")
    assert (low["epochs_trained"], high["epochs_trained"]) == (1, 2)
    assert high["epoch_scores"] == whole["epoch_scores"]


def test_gan_hyperband_campaign_under_the_pool_continues(tmp_path):
    raw = {"objective": {"name": "gan_dimuon", "n_events": 1000, "cache_dir": str(tmp_path / "cache")},
           "space": {"lr_gen": {"lower": 1, "upper": 10, "scaling": 1e-4}, "epochs": 9, **GAN_P},
           "trials": 1, "budget": 10, "seed": 0, "out": str(tmp_path / "run"),
           "executor": {"kind": "pool", "workers": 2},
           "strategy": {"name": "hyperband", "min_epochs": 3, "iterations": 1}}
    h = run_campaign(parse_config(raw), quiet=True).history
    # R = 3: three configurations at 3 epochs, the best continued to 9; two more at 9
    rungs = sorted((r.rung, r.resource, r.trials[0].info["epochs_trained"]) for r in h.sets.values())
    assert rungs == [(0, 3, 3), (0, 3, 3), (0, 3, 3), (0, 9, 9), (0, 9, 9), (1, 9, 6)]
    top = next(r for r in h.sets.values() if r.rung == 1)
    assert top.trials[0].info["epoch_scores"][:3] == h.sets[top.config_id].trials[0].info["epoch_scores"]
