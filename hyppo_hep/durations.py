"""How long a trial takes, learnt from the trials that finished (issue 16: the end of a campaign).

One model, two uses in end_phase.py: the confirmation trials' end rule (is a trial of a set,
started now, expected to end before the regular work does?) and the duration-aware last
round (which new sets, started now, are expected to end before the running work does?).

    d = TrialDurations(space)
    d.add(set_id, params, seconds)           # every trial back with its times
    d.expected(set_id, params, elapsed=e)    # a trial of that set that has run e seconds
    d.expected(None, params)                 # a trial of a set not started yet
    d.censor(set_ids, params, elapsed, k)    # the trials still running count (until censor())

A set with trials back takes their mean (its trials train the same network). Otherwise the
log duration is a ridge regression on the space's surrogate features and their squares
(a cheap model that catches "bigger layers train longer", curved or not; 2 f + 1 weights),
with the residual spread as a log-normal sigma. It is updated in O(f^2) per trial (sums of
the normal equations) and solved once per new result, so thousands of trials cost little.
A trial that has run ``e`` seconds is expected to take E[D | D > e] under that log-normal:
a trial still out long after the typical one is likely one of the long ones (a plain mean
would call it overdue). The trials still running may enter the fit too (:meth:`censor`, a
Tobit regression by EM): a fit of the trials back alone learns the short trials of the sets
started lately. Without a space (or a point it cannot encode) the model is the
intercept alone: one log-normal over every trial back.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import scipy.special

CENSOR_STEPS = 3  # EM refits with the running trials (censor)
RIDGE = 1e-3  # per trial, on the weights of features that live in [0, 1] (the intercept is free)
MIN_SIGMA = 1e-3


class TrialDurations:
    """Durations of finished trials, per set and as a model over the parameters."""

    def __init__(self, space=None, ridge: float = RIDGE):
        self.space, self.ridge = space, ridge
        n_features = space.features(np.zeros((1, space.dim))).shape[1] if space is not None and space.dim else 0
        if not n_features:
            self.space = None
        self.p = 1 + 2 * n_features  # the regression row's length
        self.n = 0
        self._sets: dict[int, tuple[int, float]] = {}  # set id -> (trials back, sum of seconds)
        self._A = np.zeros((self.p, self.p))  # sum of x x^T over the trials back
        self._b = np.zeros(self.p)  # sum of x log d
        self._yy = 0.0  # sum of (log d)^2
        self._solved: tuple[int, np.ndarray, float] | None = None  # (n, weights, sigma)
        self._censored: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # censor(): rows, log elapsed, counts
        self._x_memo: dict[tuple, np.ndarray] = {}
        # set id -> its row: the Search asks for every trial out at every ask near the end
        # of a campaign (8000 of them at 8000 workers), and a set's params do not change
        self._rows: dict[int, np.ndarray] = {}

    # --- data ---------------------------------------------------------------------------------
    def _x(self, params: dict | None) -> np.ndarray:
        """The regression row of a set: 1, features, features squared; the intercept alone
        (zeros after it) without a space or for params that are not a point of it."""
        try:
            key = self.space.key(params)
            x = self._x_memo.get(key)
            if x is None:
                f = self.space.features(self.space.encode(params))[0]
                x = self._x_memo[key] = np.concatenate([[1.0], f, f * f])
            return x
        except (AttributeError, ValueError, TypeError, KeyError):
            x = np.zeros(self.p)
            x[0] = 1.0
            return x

    def _row(self, set_id: int | None, params: dict | None) -> np.ndarray:
        if set_id is None:
            return self._x(params)
        x = self._rows.get(set_id)
        if x is None:
            x = self._rows[set_id] = self._x(params)
        return x

    def add(self, set_id: int, params: dict | None, seconds: float) -> None:
        """One trial of ``set_id`` (with ``params``) took ``seconds``."""
        k, total = self._sets.get(set_id, (0, 0.0))
        self._sets[set_id] = (k + 1, total + seconds)
        x = self._row(set_id, params)
        y = math.log(max(seconds, 1e-9))
        self._A += np.outer(x, x)
        self._b += x * y
        self._yy += y * y
        self.n += 1

    def set_mean(self, set_id: int) -> float | None:
        """Mean seconds of the trials of ``set_id`` back (None: none back)."""
        k, total = self._sets.get(set_id, (0, 0.0))
        return total / k if k else None

    # --- the model ------------------------------------------------------------------------------
    def censor(self, set_ids: list[int] | None = None, params: list[dict] | None = None,
               elapsed: np.ndarray | None = None, counts: np.ndarray | None = None) -> None:
        """Trials still running (``counts[i]`` of set ``set_ids[i]``, each ``elapsed[i]``
        seconds so far) enter the fit as right-censored: their log duration is known to
        exceed log elapsed (None: none, the fit of the finished trials alone). Without them
        the model learns from the trials that are back, i.e. the short ones of the sets
        started lately: where the strategy has moved recently (rbf's region), the durations
        are under-predicted (800 workers, rbf: the end phase's 0.99375 quantile exceeded
        by 1.8-4.0% of its whole sets, not 0.6%; RESULTS_mpi.md section 14)."""
        keep = None if elapsed is None else np.asarray(elapsed, float) > 0.0
        if keep is None or not keep.any():
            if self._censored is not None:
                self._censored, self._solved = None, None
            return
        rows = np.stack([self._row(sid, p) for sid, p, k in zip(set_ids, params, keep) if k])
        self._censored = (rows, np.log(np.asarray(elapsed, float)[keep]), np.asarray(counts, float)[keep])
        self._solved = None

    def _fit(self) -> tuple[np.ndarray, float]:
        if self._solved is None or self._solved[0] != self.n:
            w, sigma = self._solve(self._A, self._b, self._yy, self.n)
            if self._censored is not None:
                w, sigma = self._fit_censored(w, sigma)
            self._solved = (self.n, w, sigma)
        return self._solved[1], self._solved[2]

    def _solve(self, A: np.ndarray, b: np.ndarray, yy: float, n: float) -> tuple[np.ndarray, float]:
        """Ridge weights and the residual sigma from the sums of the normal equations."""
        p = self.p
        if self.n < 2 * p:  # too few trials for the features: the intercept alone
            w = np.zeros(p)
            w[0] = b[0] / n
        else:
            reg = self.ridge * n * np.eye(p)
            reg[0, 0] = 0.0  # the intercept is not shrunk
            w = np.linalg.solve(A + reg, b)
        # residual sum of squares from the sums: sum (y - x.w)^2 = yy - 2 w.b + w A w
        rss = max(0.0, yy - 2.0 * w @ b + w @ A @ w)
        # degrees of freedom: a set's trials share their row, so the weights cost
        # (trials per set) observations each, not one
        used = 1 if self.n < 2 * p else p * self.n / max(1, len(self._sets))
        return w, max(MIN_SIGMA, math.sqrt(rss / max(1.0, n - used)))

    def _fit_censored(self, w: np.ndarray, sigma: float) -> tuple[np.ndarray, float]:
        """EM for the right-censored trials (a Tobit regression): each running trial counts
        as its expected log duration given that it exceeds its elapsed time under the
        current fit, with that conditional variance; CENSOR_STEPS refits."""
        rows, log_e, k = self._censored
        n = self.n + float(k.sum())
        for _ in range(CENSOR_STEPS):
            m = rows @ w
            z = (log_e - m) / sigma
            lam = np.exp(_log_phi(z) - scipy.special.log_ndtr(-z))  # inverse Mills: E[y | y > log e] = m + sigma lam
            y = m + sigma * lam
            var = sigma * sigma * np.maximum(0.0, 1.0 + z * lam - lam * lam)
            A = self._A + (rows * k[:, None]).T @ rows
            b = self._b + rows.T @ (k * y)
            yy = self._yy + float(k @ (y * y + var))
            w, sigma = self._solve(A, b, yy, n)
        return w, sigma

    def log_normal(self, params: dict | None, set_id: int | None = None) -> tuple[float, float] | None:
        """(mu, sigma) of the log duration of a trial of a set with ``params`` (``set_id``:
        its id, to reuse its row) by the model alone; None before any trial is back."""
        if not self.n:
            return None
        w, sigma = self._fit()
        return float(self._row(set_id, params) @ w), sigma

    def log_normals(self, set_ids: list[int], params: list[dict]) -> tuple[np.ndarray, float] | None:
        """(mu of each set, sigma): :meth:`log_normal` for many sets in one product."""
        if not self.n:
            return None
        w, sigma = self._fit()
        if not set_ids:
            return np.zeros(0), sigma
        return np.stack([self._row(sid, p) for sid, p in zip(set_ids, params)]) @ w, sigma

    def quantile(self, params: dict | None, q: float) -> float | None:
        """The ``q`` quantile of the duration of a trial of a new set with ``params``."""
        ln = self.log_normal(params)
        return None if ln is None else math.exp(ln[0] + ln[1] * NormalDist().inv_cdf(q))

    def expected(self, set_id: int | None, params: dict | None, elapsed: float = 0.0) -> float | None:
        """Expected seconds of a trial of ``set_id`` (None: a set not started) with
        ``params`` that has run ``elapsed`` seconds: the set's mean when it has trials back,
        else the model's E[D | D > elapsed]; None when no trial is back at all."""
        if set_id is not None:
            own = self.set_mean(set_id)
            if own is not None:
                return own
        ln = self.log_normal(params, set_id)
        if ln is None:
            return None
        return conditional_mean(*ln, elapsed)


def _log_phi(z: np.ndarray) -> np.ndarray:
    return -0.5 * z * z - 0.5 * math.log(2.0 * math.pi)


def conditional_mean(mu: float, sigma: float, elapsed: float) -> float:
    """E[D | D > elapsed] for log D ~ N(mu, sigma^2) (``elapsed`` <= 0: the plain mean).
    The scalar form of :func:`conditional_law` (tested equal): called per set on every ask
    (Search._regular_ends), where numpy on one element costs ~30x (13.5 against 0.4 us here)."""
    mean = math.exp(mu + sigma * sigma / 2.0)
    if elapsed <= 0.0:
        return mean
    z = (math.log(elapsed) - mu) / sigma
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))  # P(D > elapsed)
    if tail < 1e-12:  # far past every duration seen: it may end any moment
        return elapsed
    return max(elapsed, mean * 0.5 * math.erfc((z - sigma) / math.sqrt(2.0)) / tail)


def conditional_law(mu: np.ndarray, sigma: float, elapsed: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """(E[D | D > elapsed], the ``q`` quantile of D given D > elapsed) for log D ~ N(mu,
    sigma^2), element-wise: conditional_mean's law for many jobs at once, with its rule for a
    job far past every duration (it may end any moment: elapsed)."""
    mu, elapsed = np.asarray(mu, float), np.asarray(elapsed, float)
    z = (np.log(np.maximum(elapsed, 1e-300)) - mu) / sigma
    z = np.where(elapsed > 0.0, z, -np.inf)
    tail = scipy.special.ndtr(-z)  # P(D > elapsed)
    mean = np.exp(mu + sigma * sigma / 2.0) * scipy.special.ndtr(sigma - z) / np.maximum(tail, 1e-300)
    p = np.minimum(1.0 - tail + q * tail, 1.0 - 1e-12)
    quantile = np.exp(mu + sigma * scipy.special.ndtri(p))
    gone = tail < 1e-12
    return np.where(gone, elapsed, np.maximum(elapsed, mean)), np.where(gone, elapsed, np.maximum(elapsed, quantile))


def last_end_quantile(q: float, earliest: float, mu: np.ndarray, sigma: np.ndarray, starts: np.ndarray,
                      now: float) -> float:
    """The ``q`` quantile of the latest of several uncertain ends, never before ``earliest``:
    job i started at ``starts[i]``, is still running at ``now``, and lasts D_i with
    log D_i ~ N(mu_i, sigma_i^2), independently. A job far past every duration seen (as in
    conditional_mean) may end any moment and does not count. Bisection, to well under a
    second of a campaign's hours."""
    def cdf(x):
        return 0.5 * scipy.special.erfc((mu - np.log(np.maximum(x, 1e-9))) / (sigma * math.sqrt(2.0)))
    f_e = cdf(np.maximum(now - starts, 1e-9))  # P(D_i <= what job i has run already)
    live = 1.0 - f_e >= 1e-12
    if not live.any():
        return earliest
    mu, sigma, starts, f_e = mu[live], sigma[live], starts[live], f_e[live]

    def p_all_done(t: float) -> float:  # P(every job ended by t | each still running at now)
        return float(np.prod(np.clip((cdf(t - starts) - f_e) / (1.0 - f_e), 0.0, 1.0)))
    lo, hi = earliest, earliest + float(np.max(np.exp(mu + 5.0 * sigma)))
    if p_all_done(lo) >= q:
        return lo
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if p_all_done(mid) >= q else (mid, hi)
    return hi
