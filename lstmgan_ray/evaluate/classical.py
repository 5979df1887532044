"""The classical generative baselines a quant researcher would put beside a GAN of returns.

Two models, each fitted on one series' training-split returns only (no leakage), and each
used two ways: K draws of the next H steps from every test window (scored as forecasts), and
K long scenarios from the start of the test split (scored like the GAN's synthetic paths).

- The **stationary block bootstrap** (Politis & Romano 1994) resamples blocks of training
  returns of random, geometrically distributed length (mean ``BLOCK`` steps) joined end to end,
  wrapping around the series. It keeps the training marginal exactly and the dependence within
  a block (volatility clustering shorter than a block), and conditions on nothing.
- **GARCH(1,1) with Student-t shocks**, fitted by ``arch`` (maximum likelihood). It conditions
  on the past through its variance: forecasts from a test window start from the variance
  filtered through every return up to the window's last step, with the training parameters.

``arch`` is optional (the ``eval`` extra): it is imported inside the GARCH functions, and
``garch_missing`` tells the caller to skip the GARCH rows. The simulation is ours, in NumPy, so
one seeded, vectorised recursion serves thousands of forecast origins and the long scenarios.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

BLOCK = 20  # expected block length: about a trading month, longer than most volatility bursts' onset
SCALE = 100.0  # arch's optimiser wants returns of order 1: fit percent returns, scale simulations back
GARCH_SKIPPED = "GARCH(1,1)-t baseline skipped: pip install 'lstmgan-ray[eval]'"


def stationary_bootstrap(returns: np.ndarray, paths: int, steps: int, rng: np.random.Generator,
                         block: float = BLOCK) -> np.ndarray:
    """``[paths, steps]`` resampled returns: a new block starts at a uniform random position with
    probability ``1 / block`` at every step (always at the first), and a block runs on through the
    series, wrapping from its end to its start, so blocks have the geometric length Politis and
    Romano's bootstrap needs for a stationary resample."""
    r = np.asarray(returns, np.float64)
    if len(r) == 0:
        raise ValueError("the stationary bootstrap needs at least one training return")
    new = rng.random((paths, steps)) < 1.0 / block
    new[:, 0] = True
    starts = rng.integers(0, len(r), size=(paths, steps))
    position = np.arange(steps)
    block_start = np.maximum.accumulate(np.where(new, position, 0), axis=1)
    first = np.take_along_axis(starts, block_start, axis=1)
    return r[(first + position - block_start) % len(r)]


@dataclass(frozen=True)
class GarchFit:
    """GARCH(1,1)-t parameters in ``SCALE``-d units (percent, for log returns):
    r = mu + e, e = sigma z, sigma^2' = omega + alpha e^2 + beta sigma^2, z standardised Student-t(nu)."""

    mu: float
    omega: float
    alpha: float
    beta: float
    nu: float
    loglik: float
    converged: bool
    observations: int

    @property
    def persistence(self) -> float:
        return self.alpha + self.beta

    def summary(self) -> dict[str, float | bool | int]:
        """For ``metrics.json``: the parameters, their scale, and how long shocks take to fade."""
        half_life = np.log(0.5) / np.log(self.persistence) if 0 < self.persistence < 1 else float("inf")
        return {**asdict(self), "persistence": self.persistence, "half_life_steps": float(half_life),
                "scale": SCALE}

    def params(self) -> list[float]:
        return [self.mu, self.omega, self.alpha, self.beta, self.nu]


def garch_missing() -> str | None:
    """``GARCH_SKIPPED`` when ``arch`` cannot be imported, else None: evaluate runs without it."""
    try:
        import arch  # noqa: F401  -- late: arch is an optional extra, probed only when a GARCH is wanted
    except ImportError:
        return GARCH_SKIPPED
    return None


def _model(returns: np.ndarray):
    from arch import arch_model  # late: arch is an optional extra (lstmgan-ray[eval])

    return arch_model(SCALE * np.asarray(returns, np.float64), mean="Constant", vol="GARCH", p=1, q=1, dist="t",
                      rescale=False)


def fit_garch(returns: np.ndarray) -> GarchFit:
    """Maximum-likelihood GARCH(1,1)-t on ``returns`` (a series' training returns, transformed units)."""
    result = _model(returns).fit(disp="off", show_warning=False)
    p = result.params
    return GarchFit(mu=float(p["mu"]), omega=float(p["omega"]), alpha=float(p["alpha[1]"]),
                    beta=float(p["beta[1]"]), nu=float(p["nu"]), loglik=float(result.loglikelihood),
                    converged=result.convergence_flag == 0, observations=len(returns))


def next_variance(fit: GarchFit, returns: np.ndarray) -> np.ndarray:
    """For every step t of ``returns`` (the whole series, training first), the variance of step t + 1
    given the returns up to t, with ``fit``'s parameters held fixed (``SCALE``-d units).

    arch filters the variance (``fix``: no re-estimation, so later returns inform the state,
    never the parameters); the last recursion step, one past each return, is done here.
    """
    fixed = _model(returns).fix(fit.params())
    sigma2 = np.asarray(fixed.conditional_volatility, np.float64) ** 2
    resid = np.asarray(fixed.resid, np.float64)
    return fit.omega + fit.alpha * resid ** 2 + fit.beta * sigma2


def simulate_garch(fit: GarchFit, variance: np.ndarray, paths: int, steps: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``[N, paths, steps]`` returns (transformed units) simulated from ``N`` origins whose next-step
    variance is ``variance`` (``SCALE``-d units, from ``next_variance``)."""
    variance = np.asarray(variance, np.float64)
    sigma2 = np.repeat(variance[:, None], paths, axis=1)
    unit = np.sqrt((fit.nu - 2.0) / fit.nu)  # a Student-t(nu) draw times this has variance 1
    out = np.empty((len(variance), paths, steps))
    for h in range(steps):
        shock = np.sqrt(sigma2) * unit * rng.standard_t(fit.nu, size=sigma2.shape)
        out[:, :, h] = fit.mu + shock
        sigma2 = fit.omega + fit.alpha * shock ** 2 + fit.beta * sigma2
    return out / SCALE


# -- both baselines for every series, fitted once -------------------------------------------

MIN_GARCH_RETURNS = 100  # fewer training returns than this cannot pin down a variance process


@dataclass(frozen=True)
class SeriesHistory:
    """One series' whole target history in transformed units (log returns by default), in time order;
    the first ``n_train`` steps are its training split (the only ones a baseline is fitted on)."""

    returns: np.ndarray
    times: np.ndarray  # datetime64[us], one per step
    n_train: int

    @property
    def train(self) -> np.ndarray:
        return self.returns[:self.n_train]

    def rows(self, origins: np.ndarray) -> np.ndarray:
        """The step index of each timestamp in ``origins`` (a window's last observed step)."""
        origins = np.asarray(origins).astype("datetime64[us]")
        rows = np.searchsorted(self.times, origins)
        if np.any(rows >= len(self.times)) or np.any(self.times[np.minimum(rows, len(self.times) - 1)] != origins):
            raise RuntimeError("a window's origin is not a step of its series' history")
        return rows


@dataclass(frozen=True)
class Classical:
    """Both baselines, per series: the history they draw from and (arch present) the GARCH fit with the
    next-step variance after every step. ``skipped`` says why there is no GARCH, if there is none."""

    history: dict[str, SeriesHistory]
    garch: dict[str, GarchFit]
    variance: dict[str, np.ndarray]
    skipped: str | None

    def models(self) -> tuple[str, ...]:
        return ("block_bootstrap",) if self.skipped else ("block_bootstrap", "garch_t")

    def summary(self) -> dict[str, Any]:
        """What the baselines were fitted to, for ``metrics.json`` and the report."""
        garch = {"skipped": self.skipped} if self.skipped else {
            "per_series": {sid: fit.summary() for sid, fit in self.garch.items()}}
        return {"fitted_on": "each series' training-split returns",
                "training_returns": {sid: h.n_train for sid, h in self.history.items()},
                "block_bootstrap": {"expected_block_length": BLOCK}, "garch_t": garch}


def fit_classical(history: dict[str, SeriesHistory]) -> Classical:
    """Fit the GARCH of every series on its training returns and filter its variance through the rest;
    skipped (with the reason) when arch is missing or a training split is too short for it."""
    short = [sid for sid, h in sorted(history.items()) if h.n_train < MIN_GARCH_RETURNS]
    skipped = garch_missing() or (f"GARCH(1,1)-t baseline skipped: fewer than {MIN_GARCH_RETURNS} training "
                                  f"returns in {', '.join(short)}" if short else None)
    if skipped:
        return Classical(history, {}, {}, skipped)
    garch = {sid: fit_garch(h.train) for sid, h in history.items()}
    variance = {sid: next_variance(garch[sid], h.returns) for sid, h in history.items()}
    return Classical(history, garch, variance, None)


def _streams(seed: int, purpose: int) -> dict[str, np.random.Generator]:
    """Independent seeded generators per baseline, so adding one never changes another's draws."""
    return {"block_bootstrap": np.random.default_rng([seed, purpose, 1]),
            "garch_t": np.random.default_rng([seed, purpose, 2])}


def forecast_draws(c: Classical, series: np.ndarray, origins: np.ndarray, paths: int, horizon: int,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Per baseline, ``[N, paths, horizon]`` step returns after each window (``series``/``origins``,
    one per window): the bootstrap from the training returns, the GARCH from the window's filtered variance."""
    series = np.asarray(series).astype(str)
    rng = _streams(seed, 1)
    out = {name: np.zeros((len(series), paths, horizon)) for name in c.models()}
    for sid in np.unique(series):
        m = series == sid
        h, count = c.history[sid], int(m.sum())
        out["block_bootstrap"][m] = stationary_bootstrap(h.train, count * paths, horizon,
                                                         rng["block_bootstrap"]).reshape(count, paths, horizon)
        if "garch_t" in out:
            variance = c.variance[sid][h.rows(origins[m])]
            out["garch_t"][m] = simulate_garch(c.garch[sid], variance, paths, horizon, rng["garch_t"])
    return out


def scenario_draws(c: Classical, origins: dict[str, np.datetime64], paths: int, steps: dict[str, int],
                   seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Per baseline and series, ``[paths, steps[sid]]`` returns of long scenarios from ``origins[sid]``
    (the first test window's last step, where the GAN's synthetic paths start)."""
    rng = _streams(seed, 2)
    out: dict[str, dict[str, np.ndarray]] = {name: {} for name in c.models()}
    for sid in sorted(origins):
        h = c.history[sid]
        out["block_bootstrap"][sid] = stationary_bootstrap(h.train, paths, steps[sid], rng["block_bootstrap"])
        if "garch_t" in out:
            variance = c.variance[sid][h.rows(np.array([origins[sid]]))]
            out["garch_t"][sid] = simulate_garch(c.garch[sid], variance, paths, steps[sid], rng["garch_t"])[0]
    return out
