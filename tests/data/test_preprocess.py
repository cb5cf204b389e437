"""Preprocessing of skewed features: tail cuts, log and Box-Cox, and their inverse (issue 17.4)."""

import numpy as np
import pytest

from hyppo_hep.data import preprocess as pp
from hyppo_hep.errors import UserError

NAMES = ["pt1", "eta1", "pt2"]


@pytest.fixture
def events():
    rng = np.random.default_rng(0)
    n = 5000
    return np.column_stack([20 + rng.exponential(30, n), rng.normal(0, 1.2, n), 20 + rng.gamma(2.0, 15, n)])


@pytest.mark.parametrize("kind", ["log", "boxcox", "none"])
def test_transform_then_inverse_gives_the_events_back(events, kind):
    pre = pp.Preprocessor.fit(events, NAMES, {"pt1": kind, "pt2": kind})
    z = pre.transform(events)
    np.testing.assert_allclose(pre.inverse(z), events, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(z[:, 1], events[:, 1])  # an untransformed feature is untouched


def test_log_and_boxcox_make_a_skewed_momentum_symmetric(events):
    from scipy import stats

    assert stats.skew(events[:, 0]) > 1.5
    for kind in ("log", "boxcox"):
        z = pp.Preprocessor.fit(events, NAMES, {"pt1": kind}).transform(events)
        assert abs(stats.skew(z[:, 0])) < 0.6


def test_inverse_of_generated_values_outside_the_training_range_stays_finite(events):
    pre = pp.Preprocessor.fit(events, NAMES, {"pt1": "boxcox", "pt2": "log"})
    z = pre.transform(events)
    wild = z + np.array([3.0, 0.0, -3.0])  # a generator overshooting both ways
    assert np.isfinite(pre.inverse(wild)).all()


def test_quantile_and_value_tail_cuts(events):
    keep = pp.tail_mask(events, NAMES, 0.01)
    assert 0.93 * len(events) < keep.sum() < 0.98 * len(events)
    keep = pp.tail_mask(events, NAMES, {"pt1": [20, 100], "eta1": [-1, 1]})
    kept = events[keep]
    assert kept[:, 0].max() <= 100 and np.abs(kept[:, 1]).max() <= 1
    assert keep.sum() == ((events[:, 0] <= 100) & (np.abs(events[:, 1]) <= 1)).sum()


def test_hyperparameters_choose_cut_and_transform_of_the_skewed_features(events):
    assert pp.skewed_features(events, NAMES) == ["pt1", "pt2"]
    spec = pp.with_hyperparameters({}, {"pre_tail_cut": 0.005, "pre_transform": "log"}, events, NAMES)
    assert spec == {"tail_cut": 0.005, "transform": {"pt1": "log", "pt2": "log"}}
    keep, z, pre = pp.prepare(events, NAMES, spec)
    np.testing.assert_allclose(pre.inverse(z), events[keep])
    assert pre.describe() == {"pt1": "log", "pt2": "log"}


@pytest.mark.parametrize("spec, message", [
    ({"transform": {"pt9": "log"}}, r"preprocess.transform.pt9: no feature 'pt9'"),
    ({"transform": {"pt1": "sqrt"}}, r"preprocess.transform.pt1: must be one of none, log, boxcox"),
    ({"tail_cut": 0.7}, r"preprocess.tail_cut: a quantile in \[0, 0.5\)"),
    ({"tail_cut": {"pt1": [5, 1]}}, r"preprocess.tail_cut.pt1: must be \[low, high\]"),
    ({"scale": 1}, r"preprocess: unknown key\(s\) \['scale'\]"),
    ("log", r"preprocess: must be a mapping"),
])
def test_bad_specs_name_the_key_path(spec, message):
    with pytest.raises(UserError, match=message):
        pp.check_spec(spec, NAMES)
