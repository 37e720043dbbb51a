"""Warm starts (``fit(..., start=)``, ``fit_stats(..., start=)``), the analytic FIML information and
the reusable item means of ``subset_indices``.

A warm start only changes where EM and the optimiser begin: the result must be the cold fit's
to the optimiser's tolerance. The information is checked against Richardson-extrapolated
central differences of the analytic gradient (independent of the Kronecker algebra).
"""
import copyreg
import importlib.util
import io
import math
import pickle
import warnings
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

import model
from model import CSISpec, ModelWarning, SufficientStats, fit, fit_stats, item_means, subset_indices
from model import fiml
from model.moments import mean_cov

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("resample_generate_warm", HERE / "resamples" / "generate.py")
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)

REL, ABS = 1e-6, 1e-8


def _proxy(items: dict) -> MappingProxyType:
    return MappingProxyType(items)


def dumps(obj) -> bytes:
    """Pickle as the service does (survey/report/cache.py: mapping proxies as the dicts they wrap),
    without registering that process-wide."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table,
                              MappingProxyType: lambda proxy: (_proxy, (dict(proxy),))}
    pickler.dump(obj)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def resamples():
    return generate.datasets()


def load(source, name, variant, resamples):
    if source == "resample":
        ds = resamples[name]
        return ds["data"], CSISpec.from_mapping(ds["items"], variant)
    data = pd.read_csv(HERE / "variants" / f"{name}.csv")
    return data, CSISpec.from_columns(data.columns, variant)


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelWarning)
        return fn(*args, **kwargs)


def assert_close(a, b, path=""):
    """Every number of two to_dict() trees within REL relative or ABS absolute."""
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            assert_close(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), path
        else:
            assert abs(a - b) <= max(REL * max(abs(a), abs(b)), ABS), (path, a, b)
    else:
        assert a == b, (path, a, b)


class Spy:
    """Records the start (x0, mu0) of every FIML optimisation and every EM start."""

    def __init__(self, monkeypatch):
        self.x0, self.em = [], []
        real_fit, real_em = fiml.fit_structured, fiml.Patterns.saturated
        spy = self

        def fit_structured(patterns, x0, mu0, *args, **kwargs):
            spy.x0.append(np.array(x0))
            return real_fit(patterns, x0, mu0, *args, **kwargs)

        def saturated(self, *args, start=None, **kwargs):
            spy.em.append(start)
            return real_em(self, *args, start=start, **kwargs)

        monkeypatch.setattr(fiml, "fit_structured", fit_structured)
        monkeypatch.setattr(fiml.Patterns, "saturated", saturated)


# (source, name, variant, missing): MAR and halo-MAR by FIML, gaps in a bootstrap, ECSI/CCSI
# with gaps, complete data (ML), MAR by listwise deletion
CASES = [
    ("resample", "mar_boot_00", "acsi", "fiml"),
    ("resample", "mar_sim_03", "acsi", "fiml"),
    ("resample", "halo_mar_06", "acsi", "fiml"),
    ("resample", "boot_missing_01", "acsi", "fiml"),
    ("variant", "ecsi_mar", "ecsi", "fiml"),
    ("variant", "ccsi_mar", "ccsi", "fiml"),
    ("resample", "boot_single_00", "acsi", "fiml"),
    ("resample", "mar_sim_01", "acsi", "listwise"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[1]}-{c[3]}")
def test_warm_start_gives_the_cold_fit(case, resamples, monkeypatch):
    data, spec = load(*case[:3], resamples)
    missing = case[3]
    part = data.iloc[: int(len(data) * 0.9)]
    previous = quietly(fit, part, spec, missing=missing, model=case[2])
    cold = quietly(fit, data, spec, missing=missing, model=case[2])
    spy = Spy(monkeypatch)
    warm = quietly(fit, data, spec, missing=missing, model=case[2], start=previous)
    assert_close(cold.to_dict(), warm.to_dict())
    start = previous._start
    if start.mu is not None and warm._start.mu is not None:   # FIML on both: started where A ended
        np.testing.assert_array_equal(spy.x0[0], start.x)
        np.testing.assert_array_equal(spy.em[0][1], start.h1_cov)
    # the statistics path takes the same start
    stats = SufficientStats.from_frame(data, spec.observed)
    assert_close(cold.to_dict(), quietly(fit_stats, stats, spec, missing=missing, model=case[2],
                                         start=previous).to_dict())


def test_start_survives_pickling_and_a_foreign_start_is_ignored(resamples, monkeypatch):
    data, spec = load("variant", "ecsi_mar", "ecsi", resamples)
    previous = quietly(fit, data.iloc[:-20], spec, model="ecsi")
    again = pickle.loads(dumps(previous))
    np.testing.assert_array_equal(again._start.x, previous._start.x)
    np.testing.assert_array_equal(again._start.h1_cov, previous._start.h1_cov)
    assert_close(quietly(fit, data, spec, model="ecsi").to_dict(),
                 quietly(fit, data, spec, model="ecsi", start=again).to_dict())

    # another variant (other parameters) or another item set: ignored, the fit is the cold one
    acsi = CSISpec.from_mapping(spec.items, "acsi") if "IM" not in spec.items else \
        CSISpec.from_mapping({c: i for c, i in spec.items.items() if c != "IM"}, "acsi")
    frame = data[list(acsi.observed)]
    cold = quietly(fit, frame, acsi)
    spy = Spy(monkeypatch)
    foreign = quietly(fit, frame, acsi, start=previous)
    assert foreign.to_dict() == cold.to_dict()
    assert all(start is None for start in spy.em)
    assert not any(x.shape == previous._start.x.shape and np.array_equal(x, previous._start.x) for x in spy.x0)
    with pytest.raises(TypeError):
        fit(frame, acsi, start={"x": previous._start.x})


def test_pls_start_reuses_only_the_em_start(resamples):
    data, spec = load("resample", "mar_sim_00", "acsi", resamples)
    previous = quietly(fit, data.iloc[:-15], spec, estimator="pls")
    assert previous._start.x is None and previous._start.h1_cov is not None
    assert_close(quietly(fit, data, spec, estimator="pls").to_dict(),
                 quietly(fit, data, spec, estimator="pls", start=previous).to_dict())
    # an ML fit started from a PLS result: EM warm, the optimiser cold
    assert_close(quietly(fit, data, spec).to_dict(), quietly(fit, data, spec, start=previous).to_dict())


def _central(grad, theta, h):
    out = np.empty((theta.size, theta.size))
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = h * max(1.0, abs(theta[j]))
        out[:, j] = (grad(theta + step) - grad(theta - step)) / (2 * step[j])
    return (out + out.T) / 2


def _richardson(grad, theta):
    return (4 * _central(grad, theta, 5e-5) - _central(grad, theta, 1e-4)) / 3


@pytest.mark.parametrize("name", ["mar_sim_03", "halo_mar_12", "boot_missing_01"])
def test_information_is_the_hessian_of_minus_loglik(name, resamples, monkeypatch):
    data, spec = load("resample", name, "acsi", resamples)
    seen = {}
    real = fiml.fit_structured

    def keep(patterns, x0, mu0, sigma_fn, curvature, *args, **kwargs):
        out = real(patterns, x0, mu0, sigma_fn, curvature, *args, **kwargs)
        seen.update(patterns=patterns, sigma_fn=sigma_fn, curvature=curvature, fit=out)
        return out

    monkeypatch.setattr(fiml, "fit_structured", keep)
    quietly(fit, data, spec)
    patterns, sigma_fn, curvature, res = seen["patterns"], seen["sigma_fn"], seen["curvature"], seen["fit"]
    k = res.x.size

    def grad(theta):
        sigma, deltas = sigma_fn(theta[:k])
        g_sigma, g_mu = patterns.gradients(theta[k:], sigma)
        return np.concatenate([np.tensordot(deltas, g_sigma, axes=2), g_mu])

    # at the optimum and away from it (where d(−logL)/dΣ and Σ's curvature matter more)
    for theta in (np.concatenate([res.x, res.mu]), np.concatenate([res.x * 1.05, res.mu + 0.1])):
        sigma, deltas = sigma_fn(theta[:k])
        g_sigma, _ = patterns.gradients(theta[k:], sigma)
        info = patterns.structured_information(theta[k:], sigma, deltas, curvature(theta[:k], g_sigma))
        numeric = _richardson(grad, theta)
        assert np.max(np.abs(info - numeric)) <= 1e-8 * np.max(np.abs(numeric))
    # the FIML SEs are the inverse of that information
    np.testing.assert_allclose(res.cov, np.linalg.inv(patterns.structured_information(
        res.mu, *sigma_fn(res.x), curvature(res.x, patterns.gradients(res.mu, sigma_fn(res.x)[0])[0]))),
        rtol=1e-6, atol=1e-12)


def test_saturated_information_is_the_hessian_over_mean_and_vech(resamples):
    data = resamples["mar_sim_03"]["data"]
    values = data.to_numpy(float)
    patterns = fiml.Patterns.from_values(values[~np.isnan(values).all(axis=1)])
    mu, sigma = patterns.saturated()
    p = patterns.p
    iu = np.triu_indices(p)

    def grad(theta):   # d(−logL)/d(μ, vech Σ): off-diagonal entries move Σ_ij and Σ_ji
        m, s = theta[:p], np.zeros((p, p))
        s[iu] = theta[p:]
        s = s + s.T - np.diag(np.diag(s))
        g_sigma, g_mu = patterns.gradients(m, s)
        return np.concatenate([g_mu, (g_sigma + g_sigma.T - np.diag(np.diag(g_sigma)))[iu]])

    theta = np.concatenate([mu, sigma[iu]])
    numeric = _richardson(grad, theta)
    info = patterns.saturated_information(mu, sigma)
    assert np.max(np.abs(info - numeric)) <= 1e-8 * np.max(np.abs(numeric))


@pytest.mark.parametrize("name,missing", [("mar_sim_03", "fiml"), ("halo_mar_06", "fiml"),
                                          ("mar_sim_01", "listwise"), ("boot_single_00", "fiml")])
def test_item_means_split_gives_subset_indices(name, missing, resamples):
    ds = resamples[name]
    data, spec = ds["data"], CSISpec.from_mapping(ds["items"])
    one = quietly(fit, data, spec, missing=missing)
    other = quietly(fit, data, spec, missing=missing, estimator="pls")   # other weights
    wave = data.iloc[len(data) // 3:]
    stats = SufficientStats.from_frame(wave, list(data.columns))     # more items, any order: selected
    means = item_means(stats, missing, spec.observed)
    for result in (one, other):
        assert subset_indices(None, result, means=means) == subset_indices(stats, result)
        assert subset_indices(stats, result) == subset_indices(wave, result)
    if missing == "fiml" and stats.n_complete < stats.n_total:   # FIML: the EM means, not the available ones
        assert not np.allclose(means.mean, stats.select(spec.observed).item_means().mean, rtol=1e-9)
    with pytest.raises(ValueError):
        subset_indices(None, one, means=item_means(stats, missing, spec.observed[:-1]))
