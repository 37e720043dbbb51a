"""Improper or shaky fits return a result with warnings instead of raising."""
import numpy as np
import pytest

from model import ConvergenceWarning, HeywoodCaseWarning, ModelWarning, fit, min_responses, CSISpec

from conftest import simulate


def codes(result):
    return [w["code"] for w in result.warnings]


@pytest.fixture
def heywood_survey(rng):
    """CL1 and CL2 each follow CS closely but share little with each other (a negative unique
    component), so CL would need more than 100% explained variance: a Heywood case."""
    data, eta = simulate(rng, 400)
    shared = rng.standard_normal(len(data))
    for k, sign in ((1, 1), (2, -1)):
        raw = 7 + 1.7 * (0.75 * eta["CS"] + 0.55 * sign * shared + 0.35 * rng.standard_normal(len(data)))
        data[f"CL{k}"] = np.clip(np.rint(raw), 1, 10)
    return data


def test_heywood_case_warns_and_returns_result(heywood_survey):
    with pytest.warns(HeywoodCaseWarning, match=r"Heywood case\): disturbance variance of CL"):
        result = fit(heywood_survey)
    assert "heywood" in codes(result)
    assert result.constructs["CL"]["r2"] == pytest.approx(1.0, abs=1e-6)
    assert result.to_dict()["constructs"]["CL"]["index"] is not None


def test_non_convergence_warns_and_falls_back_to_equal_weights(survey):
    with pytest.warns(ConvergenceWarning, match="did not converge .*iteration limit"):
        result = fit(survey, maxiter=3)
    assert result.converged is False
    assert {"not_converged", "equal_weights"} <= set(codes(result))
    assert result.weights["CE"] == pytest.approx({"CE1": 1 / 3, "CE2": 1 / 3, "CE3": 1 / 3})
    assert "converged: NO" in result.to_text()


def test_clean_fit_has_no_python_warnings(survey):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelWarning)
        result = fit(survey)
    assert result.converged and "heywood" not in codes(result)


def test_small_sample_warning(rng):
    data = simulate(rng, 120)[0]
    spec = CSISpec.from_columns(data.columns)
    assert min_responses(spec) <= 120 < 5 * spec.n_free_params()
    result = fit(data)
    assert "small_sample" in codes(result)
    assert f"120 complete responses for {spec.n_free_params()} free parameters" in \
        next(w["message"] for w in result.warnings if w["code"] == "small_sample")


def test_poor_fit_and_reliability_and_discriminant_warnings(rng):
    """PQ items that measure CE, a weak CS item and a complaint item driven by CE (a path the
    model lacks): misfit, low reliability and indistinct constructs that the result must flag."""
    data, eta = simulate(rng, 500)
    noise = lambda sd: rng.normal(0, sd, 500)
    data["PQ2"] = np.clip(np.rint(7 + 1.7 * eta["CE"] + noise(0.5)), 1, 10)
    data["PQ3"] = np.clip(np.rint(7 + 1.7 * eta["CE"] + noise(0.5)), 1, 10)
    data["CS3"] = np.clip(np.rint(7 + 1.7 * (0.35 * eta["CS"] + noise(0.9))), 1, 10)
    data["CC1"] = np.clip(np.rint(5 - 1.7 * (0.8 * eta["CE"] + noise(0.6))), 1, 10)
    result = fit(data)
    d = result.to_dict()
    assert {"poor_fit", "low_reliability", "discriminant_validity"} <= set(codes(result))
    assert d["fit"]["verdicts"]["rmsea"]["verdict"] == "poor" and d["fit"]["verdicts"]["rmsea"]["ok"] is False
    assert d["reliability_verdicts"]["CS"]["ave"]["ok"] is False
    assert d["reliability_verdicts"]["ok"] is False
    assert d["discriminant"]["htmt"]["CE|PQ"] >= 0.85 and d["discriminant"]["ok"] is False


def test_good_fit_verdicts(survey):
    v = fit(survey).to_dict()["fit"]["verdicts"]
    for key in ("cfi", "tli", "rmsea", "srmr"):
        assert v[key]["verdict"] in ("good", "acceptable") and v[key]["ok"] is True
    assert v["cfi"]["threshold"] == 0.90 and v["rmsea"]["threshold"] == 0.08
    assert v["srmr"]["text"].startswith("SRMR = ")


def test_semopy_log_messages_are_muted_and_root_logger_untouched(survey, caplog):
    import logging
    handlers = list(logging.getLogger().handlers)
    with caplog.at_level(logging.DEBUG), pytest.warns(ConvergenceWarning):
        fit(survey, maxiter=3)  # semopy logs "Solver didn't converge" to the root logger
    assert not [r for r in caplog.records if "semopy" in r.pathname]
    assert logging.getLogger().handlers == handlers and not logging.getLogger().filters


def test_undefined_fit_index_verdicts():
    from model.verdicts import fit_verdicts
    v = fit_verdicts({"chi2": 0.0, "p_value": float("nan"), "cfi": 1.0, "tli": float("nan"),
                      "rmsea": float("nan"), "srmr": 0.0})
    assert v["tli"]["value"] is None and v["tli"]["ok"] is None and "undefined" in v["tli"]["text"]
    assert v["chi2"]["verdict"] is None and v["cfi"]["verdict"] == "good"


def test_fiml_non_convergence_warns(survey, rng):
    data = survey.mask(rng.random(survey.shape) < 0.05)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        result = fit(data, maxiter=2)
    assert result.missing_method == "fiml" and result.converged is False
    assert "not_converged" in codes(result)


def _message(result, code):
    return next(w["message"] for w in result.warnings if w["code"] == code)


def test_scale_mismatch_when_answers_use_only_the_bottom_of_the_scale(survey):
    """1-5 answers scored on the default 1-10 scale: every score understated, silently before."""
    five = np.clip(np.rint((survey - 1) / 9 * 4 + 1), 1, 5)
    result = fit(five)
    assert "scale_mismatch" in codes(result)
    assert "scale=(1, 5)" in _message(result, "scale_mismatch")
    right = fit(five, scale=(1, 5))
    assert "scale_mismatch" not in codes(right) and right.csi > result.csi + 20
    assert "scale_mismatch" not in codes(fit(survey))  # 1-10 answers on 1-10


def test_near_duplicate_items(survey, rng):
    data = survey.copy()
    data["CS3"] = data["CS2"].where(rng.random(len(data)) > 0.01, np.clip(data["CS2"] + 1, 1, 10))
    result = fit(data)
    assert "near_duplicate_items" in codes(result)
    assert "CS2/CS3" in _message(result, "near_duplicate_items")
    assert "near_duplicate_items" not in codes(fit(survey))


def test_rarely_answered_item_under_fiml(rng):
    data = simulate(rng, 600)[0]
    data.loc[data.index[30:], "PV2"] = np.nan  # 30 of 600 = 5% answer PV2: not flagged
    assert "rarely_answered" not in codes(fit(data))
    data.loc[data.index[25:30], "PV2"] = np.nan  # 25 of 600 = 4.2%
    result = fit(data)
    assert "rarely_answered" in codes(result)
    assert "PV2 (4.2%)" in _message(result, "rarely_answered")


def test_standardized_coefficient_beyond_one_off_the_boundary(rng):
    """PQ and PV nearly the same construct, CS driven by their difference: the two paths to CS
    get standardized values beyond ±1 (suppression) with every variance well inside."""
    data, eta = simulate(rng, 600)
    common = rng.standard_normal(600)
    pq, pv = common + 0.15 * rng.standard_normal(600), common + 0.15 * rng.standard_normal(600)
    cs = 3 * (pq - pv) + 0.5 * rng.standard_normal(600)
    cs = cs / cs.std()
    for prefix, latent, k in (("PQ", pq, 3), ("PV", pv, 2), ("CS", cs, 3)):
        for j in range(1, k + 1):
            data[f"{prefix}{j}"] = 6 + 1.2 * (0.9 * latent / latent.std() + 0.45 * rng.standard_normal(600))
    data = data.clip(1, 10)
    result = fit(data)
    d = result.to_dict()
    big = [p for p in d["paths"] if abs(p["std_estimate"]) > 1]
    assert big and "heywood" not in codes(result)
    assert "standardized_beyond_one" in codes(result)
    assert f"{big[0]['from']} -> {big[0]['to']}" in _message(result, "standardized_beyond_one")


def test_silenced_fits_issue_no_warnings_in_their_thread_only(heywood_survey):
    """The report and the CLI read result.warnings; under silenced() the fit issues none, without touching the
    process's warnings filters, and a fit in another thread at the same time still warns."""
    import threading
    import warnings

    from model import silenced

    filters = list(warnings.filters)
    other = []

    def fit_in_another_thread():
        with warnings.catch_warnings(record=True) as seen:  # this test's own recorder, not the engine's
            warnings.simplefilter("always")
            fit(heywood_survey)
        other.extend(w.category for w in seen)

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with silenced():
            result = fit(heywood_survey)
            thread = threading.Thread(target=fit_in_another_thread)
            thread.start()
            thread.join()
    assert "heywood" in codes(result)
    assert [w for w in seen if issubclass(w.category, HeywoodCaseWarning)] == []
    assert HeywoodCaseWarning in other
    assert warnings.filters == filters
