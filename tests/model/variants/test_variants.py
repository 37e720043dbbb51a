"""Model variants (ECSI, CCSI) against lavaan 0.6.14 (reference.json from make_reference.R) and
seminr (pls_reference.json from make_pls_reference.py), on simulated data of each variant:
complete, small (N = 100), ceiling-heavy, MAR-missing (FIML) and a bootstrap resample."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from model import CONSTRUCTS, PATHS, CSISpec, HeywoodCaseWarning, SpecificationError, fit
from model.cli import main
from model.spec import VARIANTS, parse_item_code

HERE = Path(__file__).resolve().parent
REF = json.loads((HERE / "reference.json").read_text())
DECIMAL = 1e-4
DECIMAL_CHI2 = 1e-3
HEYWOOD = {"ecsi_ceiling"}  # lavaan reports a negative error variance (PV2): the product bounds it


def load(name):
    return pd.read_csv(HERE / name)


@pytest.fixture(scope="module", params=sorted(REF["datasets"]))
def pair(request):
    res2 = REF["datasets"][request.param]
    missing = "fiml" if res2["missing"] == "ml" else "listwise"
    estimator = res2["estimator"].lower()
    args = dict(missing=missing, estimator=estimator, model=res2["variant"])
    if request.param.split("_mlr")[0] in HEYWOOD:  # the product must say so, not stay silent
        with pytest.warns(HeywoodCaseWarning, match="PV2"):
            res1 = fit(load(res2["file"]), **args).to_dict()
        assert "heywood" in {w["code"] for w in res1["warnings"]}
    else:
        res1 = fit(load(res2["file"]), **args).to_dict()
    params = {(p["lhs"], p["op"], p["rhs"]): p for p in res2["parameters"]}
    return request.param, res1, res2, params


def test_structure_is_the_variant(pair):
    _, res1, res2, _ = pair
    assert res1["model"] == res2["variant"]
    assert list(res1["constructs"]) == list(VARIANTS[res2["variant"]][0])
    assert res1["n_used"] == res2["nobs"] and res1["converged"] and res2["converged"]
    assert {(p["to"], p["from"]) for p in res1["paths"]} == {
        (k[0], k[2]) for k in (p for p in (tuple(x.values())[:3] for x in res2["parameters"])) if k[1] == "~"}


def test_fit_indices(pair):
    name, res1, res2, _ = pair
    fm = res2["fit_measures"]
    if name.split("_mlr")[0] in HEYWOOD:
        pytest.skip("lavaan's optimum has a negative variance")
    assert res1["fit"]["df"] == fm["df"]
    assert res1["fit"]["chi2"] == pytest.approx(fm["chisq"], abs=DECIMAL_CHI2)
    for key in ("cfi", "tli", "rmsea", "srmr", "p_value"):
        assert res1["fit"][key] == pytest.approx(fm["pvalue" if key == "p_value" else key], abs=DECIMAL), key
    if res2["estimator"] == "MLR":
        for ours, theirs in (("chi2_scaled", "chisq.scaled"), ("scaling_factor", "chisq.scaling.factor"),
                             ("cfi_robust", "cfi.robust"), ("tli_robust", "tli.robust"),
                             ("rmsea_robust", "rmsea.robust")):
            assert res1["fit"][ours] == pytest.approx(fm[theirs], abs=1e-3), ours


def test_paths_loadings_r2(pair):
    name, res1, res2, params = pair
    if name in HEYWOOD:
        pytest.skip("lavaan's optimum has a negative variance")
    for p in res1["paths"]:
        lav = params[(p["to"], "~", p["from"])]
        assert p["estimate"] == pytest.approx(lav["est"], abs=DECIMAL)
        assert p["std_estimate"] == pytest.approx(lav["std.all"], abs=DECIMAL)
        assert p["se"] == pytest.approx(lav["se"], abs=DECIMAL)
    for code, c in res1["constructs"].items():
        for item, ld in c["loadings"].items():
            lav = params[(code, "=~", item)]
            assert ld["estimate"] == pytest.approx(lav["est"], abs=DECIMAL)
            if lav["se"] is not None and lav["z"] is not None:
                assert ld["se"] == pytest.approx(lav["se"], abs=DECIMAL)
        if code in res2["r2"]:
            assert c["r2"] == pytest.approx(res2["r2"][code], abs=DECIMAL)
    assert res1["constructs"]["IM"]["r2"] is None  # exogenous


def test_index_effects_ipma(pair):
    """Index (loading weights), IM's total effect on CS and CL, and the IPMA drivers of CS."""
    name, res1, res2, _ = pair
    if name in HEYWOOD:
        pytest.skip("lavaan's optimum has a negative variance")
    if res2["index"]:
        for code, value in res2["index"].items():
            assert res1["constructs"][code]["index"] == pytest.approx(value, abs=1e-3)
        assert res1["csi"] == pytest.approx(res2["index"]["CS"], abs=1e-3)
    ours = {(e["from"], e["to"]): e for e in res1["effects"]}
    assert set(ours) == {(e["from"], e["to"]) for e in res2["effects"]}
    for e in res2["effects"]:
        mine = ours[(e["from"], e["to"])]
        for key in ("direct", "total", "std_total"):
            assert mine[key] == pytest.approx(e[key], abs=DECIMAL), (e["from"], e["to"], key)
        if res2["index"]:
            assert mine["impact_5pt"] == pytest.approx(e["impact_5pt"], abs=1e-3)
    assert ("IM", "CS") in ours and ("IM", "CL") in ours
    assert sorted(r["construct"] for r in res1["ipma"]) == sorted(res2["ipma_drivers"])
    imp = {r["construct"]: r["importance"] for r in res1["ipma"]}
    for e in res2["effects"]:
        if e["to"] == "CS" and res2["index"] is not None:
            assert imp[e["from"]] == pytest.approx(e["total_index"], abs=1e-4)


def test_text_names_the_variant():
    result = fit(load("ccsi_small.csv"), model="ccsi")
    text = result.to_text()
    assert "CCSI" in text and "IM Brand image" in text and "CC " not in text


def test_acsi_default_unchanged():
    """ACSI stays the default and the module constants stay ACSI's (survey/ uses them)."""
    assert CSISpec.from_columns(["IM1", "CE1", "PQ1", "PV1", "CS1", "CC1", "CL1"]).model == "acsi"
    assert VARIANTS["acsi"] == (CONSTRUCTS, PATHS) and "IM" not in CONSTRUCTS and len(PATHS) == 9
    assert parse_item_code("IM1") is None and parse_item_code("im_1", loose=True, model="ccsi") == ("IM", 1)


def test_bad_variant_input():
    data = load("ecsi_small.csv")
    with pytest.raises(SpecificationError, match="IM"):
        fit(data.drop(columns=["IM1", "IM2", "IM3"]), model="ecsi")
    with pytest.raises(SpecificationError, match="unknown model"):
        fit(data, model="scsb")
    with pytest.raises(SpecificationError, match="CC"):  # CCSI has no complaints construct
        CSISpec.from_mapping({c: [f"{c}1"] for c in ("IM", "CE", "PQ", "PV", "CS", "CC", "CL")}, "ccsi")
    with pytest.raises(SpecificationError, match="for model acsi"):
        fit(data, CSISpec.from_columns(data.columns), model="ecsi")


def test_cli_model(tmp_path, capsys):
    run = lambda *a: subprocess.run([sys.executable, "-m", "model", "fit", *a], capture_output=True,
                                    text=True, cwd=HERE.parents[2])
    out = tmp_path / "r.json"
    assert main(["fit", str(HERE / "ccsi_small.csv"), "--model", "ccsi", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["model"] == "ccsi" and "CCSI" in capsys.readouterr().out
    lacking = tmp_path / "no_im.csv"
    load("ecsi_small.csv").drop(columns=["IM1", "IM2", "IM3"]).to_csv(lacking, index=False)
    bad = run(str(lacking), "--model", "ecsi")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and len(bad.stderr.splitlines()) == 1
    assert "IM" in bad.stderr and "Traceback" not in bad.stderr
    assert main(["fit", str(lacking), "--model", "xcsi"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


PLS_REF = json.loads((HERE / "pls_reference.json").read_text())["datasets"]


@pytest.mark.parametrize("name", sorted(PLS_REF))
def test_pls_against_seminr(name):
    """PLS weights, loadings, paths and R² (seminr), ACSI index weights, index, IM's total effects
    and 5-point impacts on CS and CL (computed by the reference script from seminr's output)."""
    ref = PLS_REF[name]
    res = fit(load(ref["file"]), estimator="pls", missing=ref["missing"], model=ref["variant"]).to_dict()
    assert res["n_used"] == ref["n"] and res["converged"]
    for code, c in res["constructs"].items():
        for item in c["items"]:
            assert c["outer_weights"][item] == pytest.approx(ref["outer_weights"][item], abs=1e-5)
            assert c["loadings"][item]["std_estimate"] == pytest.approx(ref["loadings"][item], abs=1e-5)
            assert c["weights"][item] == pytest.approx(ref["acsi_weights"][code][item], abs=1e-5)
        if code in ref["r2"]:
            assert c["r2"] == pytest.approx(ref["r2"][code], abs=1e-5)
        if ref["index"]:
            assert c["index"] == pytest.approx(ref["index"][code], abs=1e-3)
    assert {f"{p['from']}->{p['to']}": p["estimate"] for p in res["paths"]} == pytest.approx(ref["paths"], abs=1e-5)
    ours = {f"{e['from']}->{e['to']}": e for e in res["effects"]}
    assert set(ours) == set(ref["effects"]) and {"IM->CS", "IM->CL"} <= set(ours)
    for key, e in ref["effects"].items():
        assert ours[key]["total"] == pytest.approx(e["total"], abs=1e-5)
        assert ours[key]["impact_5pt"] == pytest.approx(e["impact_5pt"], abs=1e-3)
    assert {r["construct"] for r in res["ipma"]} == {k.split("->")[0] for k in ref["effects"] if k.endswith("->CS")}


INV_REF = json.loads((HERE / "invariance_reference.json").read_text())["datasets"]


@pytest.mark.parametrize("variant", sorted(INV_REF))
def test_invariance_against_lavaan_group_equal(variant):
    """Configural/metric/scalar fits of each variant as lavaan's group.equal; the CCSI set's IM1
    bias must fail scalar invariance."""
    ref = INV_REF[variant]
    res = fit(load(ref["file"]), group="group", model=variant).to_dict()
    inv = res["invariance"]
    for level in ("configural", "metric", "scalar"):
        assert ref[level]["converged"]
        assert inv[level]["df"] == ref[level]["df"]
        assert inv[level]["chi2"] == pytest.approx(ref[level]["chisq"], abs=DECIMAL_CHI2)
        for key in ("cfi", "tli", "rmsea"):
            assert inv[level][key] == pytest.approx(ref[level][key], abs=DECIMAL), (level, key)
    assert list(res["groups"]["north"]["constructs"]) == list(VARIANTS[variant][0])
    if variant == "ccsi":
        assert inv["scalar"]["holds"] is False and "IM1" in inv["differing_items"]


BOOT_REF = json.loads((HERE / "bootstrap_reference.json").read_text())["datasets"]


def _quantile_sd(x, q, h=0.02):
    """SD of the q-quantile of len(x) draws (as tests/model/bootstrap/test_bootstrap.py)."""
    import math
    import numpy as np
    from scipy import stats
    lo, hi = np.quantile(x, [max(q - h, 0), min(q + h, 1)])
    density = min(2 * h / (hi - lo), stats.norm.pdf(stats.norm.ppf(q)) / x.std(ddof=1))
    return math.sqrt(q * (1 - q) / x.size) / density


@pytest.mark.parametrize("name", sorted(BOOT_REF))
def test_bootstrap_against_bootstraplavaan(name):
    """200 draws of each variant against lavaan's 1,000: path and loading SEs and percentile
    endpoints within Monte Carlo error (4.5 SDs, the tolerance derivation of tests/model/bootstrap),
    and the bootstrap fields on IM's effects and IPMA row."""
    import math
    import numpy as np
    ref = BOOT_REF[name]
    result = fit(load(ref["file"]), model=ref["variant"], bootstrap=200, seed=5)
    draws, spec = result.bootstrap_draws, result.spec
    ours = {f"{b}~{a}": draws.column("path")[:, i] for i, (a, b) in enumerate(spec.paths)}
    ours.update({f"{spec.construct_of(x)}=~{x}": draws.column("load")[:, j] for j, x in enumerate(spec.observed)})
    worst = {}
    for key, x in ours.items():
        theirs = ref["unstandardized"][key]
        if theirs["se"] < 1e-10:
            continue
        d = x - x.mean()
        kurt = float(np.mean(d ** 4) / np.mean(d ** 2) ** 2)
        z_se = math.log(x.std(ddof=1) / theirs["se"]) / math.sqrt((kurt - 1) / 4 * (1 / x.size + 1 / ref["used"]))
        z_ci = [(np.quantile(x, q) - v) / math.hypot(_quantile_sd(x, q), _quantile_sd(x, q) * math.sqrt(x.size / ref["used"]))
                for q, v in zip((0.025, 0.975), theirs["ci"])]
        worst[key] = max(abs(z_se), *map(abs, z_ci))
    assert max(worst.values()) < 4.5, worst
    d = result.to_dict()
    assert d["bootstrap"]["draws"] == 200
    im = {(e["from"], e["to"]): e for e in d["effects"]}
    for target in ("CS", "CL"):
        lo, hi = im[("IM", target)]["impact_5pt_ci"]
        assert lo <= im[("IM", target)]["impact_5pt"] <= hi
    row = next(r for r in d["ipma"] if r["construct"] == "IM")
    assert 0 <= row["p_top"] <= 1 and len(row["importance_ci"]) == 2
    assert "index_boot_ci" in d["constructs"]["IM"]
