"""The SVG charts parse as XML and draw the numbers they are given."""
import xml.etree.ElementTree as ET

import pytest

from model import CONSTRUCTS
from survey.report import charts

NAMES_ZH = {code: zh for code, (_, zh) in CONSTRUCTS.items()}
DATA_SETS = ("csi_custom_names", "csi_missing", "csi_multi", "csi_single_cc")

NS = {"s": "http://www.w3.org/2000/svg"}
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg):
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") and root.get("width") is None  # scales with CSS
    return root


def texts(root):
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize("data_set", DATA_SETS)
def test_path_diagram_draws_nine_arrows_dashed_when_not_significant(fitted_results, data_set):
    result = fitted_results[data_set]
    paths = [(p["from"], p["to"], p["std_estimate"], p["p_value"]) for p in result["paths"]]
    root = parse(charts.path_diagram(result, names=NAMES_ZH, title="路径"))
    lines = root.findall(".//s:line[@class]", NS)
    arrows = [ln for ln in lines if ln.get("class").startswith("path")]
    assert len(arrows) == 9
    by_pair = {(ln.get("data-from"), ln.get("data-to")): ln for ln in arrows}
    for src, dst, _, p in paths:
        line = by_pair[(src, dst)]
        assert (line.get("stroke-dasharray") is not None) == (p >= 0.05)
        assert line.get("marker-end") == ("url(#arrow-ns)" if p >= 0.05 else "url(#arrow-sig)")
    coefs = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "coef"]
    assert sorted(coefs) == sorted(f"{s:.2f}" for _, _, s, _ in paths)


def test_the_real_results_have_significant_and_non_significant_paths(fitted_results):
    p_values = [p["p_value"] for p in fitted_results["csi_multi"]["paths"]]
    assert min(p_values) < 0.05 <= max(p_values)  # so the dashed/solid test above sees both


@pytest.mark.parametrize("data_set", DATA_SETS)
def test_path_diagram_shows_r2_on_the_five_endogenous_constructs_and_chinese_names(fitted_results, data_set):
    result = fitted_results[data_set]
    root = parse(charts.path_diagram(result, names=NAMES_ZH))
    r2 = {g.get("data-code"): "".join(t.itertext()) for g in root.findall(".//s:g[@class='node']", NS)
          for t in g.findall("s:text[@class='r2']", NS)}
    assert r2 == {code: f"R² = {result['constructs'][code]['r2']:.2f}" for code in ("PQ", "PV", "CS", "CC", "CL")}
    assert "顾客满意度" in texts(root)
    assert f"{result['constructs']['CS']['index']:.1f}" in texts(root)  # CS index inside its box
    assert "Droid Sans Fallback" in root.get("font-family")


def test_arrows_end_on_box_edges_not_centres(result):
    root = parse(charts.path_diagram(result))
    line = root.find(".//s:line[@data-from='PV'][@data-to='CS']", NS)
    # PV (300,190) → CS (520,190), boxes 176 wide: from 388 to 432.
    assert float(line.get("x1")) == pytest.approx(388)
    assert float(line.get("x2")) == pytest.approx(432)


def test_text_is_escaped(result):
    svg = charts.path_diagram(result, names={"CS": "<script>alert(1)</script> & co"})
    root = parse(svg)
    assert "<script>alert(1)</script> & co" in texts(root)
    assert "<script>" not in svg


def _simulated(seed, n=250, ce_to_cs=0.15):
    """1..10 answers from the ACSI structure (a local generator: the report tests do not import the model's)."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(seed)
    paths = {"PQ": {"CE": 0.5}, "PV": {"CE": 0.2, "PQ": 0.5}, "CS": {"CE": ce_to_cs, "PQ": 0.45, "PV": 0.3},
             "CC": {"CS": -0.5}, "CL": {"CS": 0.55, "CC": -0.2}}
    eta = {"CE": rng.standard_normal(n)}
    for code in ("PQ", "PV", "CS", "CC", "CL"):
        signal = sum(b * eta[src] for src, b in paths[code].items())
        eta[code] = signal + np.sqrt(max(1 - signal.var(), 0.05)) * rng.standard_normal(n)
    cols = {}
    for code, k in {"CE": 3, "PQ": 4, "PV": 2, "CS": 3, "CC": 1, "CL": 2}.items():
        for j in range(1, k + 1):
            shift = rng.uniform(-1, 1)
            cols[f"{code}{j}"] = np.clip(np.rint(6.8 + shift + 1.7 * (0.8 * eta[code] + 0.6 * rng.standard_normal(n))), 1, 10)
    return pd.DataFrame(cols)


@pytest.fixture(scope="module")
def decided(fitted_results):
    """Bootstrapped results (30 draws: tiers and zones known) of the engine's data sets and four generated
    ones (one where expectations dominate), and one result without draws (no zones)."""
    import json
    import warnings
    import model
    from model.exceptions import ModelWarning
    from tests.report.conftest import DATA
    frames = {path.stem: (model.read_table(path), path.with_suffix(".map.json")) for path in sorted(DATA.glob("*.csv"))}
    frames = {name: (frame, json.loads(m.read_text()) if m.exists() else None) for name, (frame, m) in frames.items()}
    frames.update({f"sim{seed}": (_simulated(seed), None) for seed in (1, 2, 4)})
    frames["ce_heavy"] = (_simulated(3, ce_to_cs=0.6), None)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelWarning)
        for name, (frame, spec) in frames.items():
            out[name] = model.fit(frame, spec=spec, bootstrap=30, seed=1).to_dict()
    out["no_draws"] = fitted_results["csi_multi"]
    return out


def _inside(x, y, polygon) -> bool:
    """Ray casting: is (x, y) inside the polygon ("x,y x,y ...")?"""
    pts = [tuple(map(float, p.split(","))) for p in polygon.split()]
    inside = False
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def test_chart_zones_and_the_list_agree_on_every_fixture(decided):
    for name, result in decided.items():
        levers, zones = result["improve_first"], result["decision"]["zones"]
        root = parse(charts.ipma_chart(levers, zones))
        points = root.findall(".//s:g[@class='point']", NS)
        listed = {r["item"]: r["zone"] for r in levers}
        assert {p.get("data-key"): p.get("data-zone") or None for p in points} == listed, name
        assert not any(key.startswith("CE") for key in listed) and len(points) == len(levers), name
        polygons = {z.get("data-zone"): z.get("points") for z in root.findall(".//s:polygon[@class='zone']", NS)}
        edges = {z.get("data-zone"): z.get("data-min-gain") for z in root.findall(".//s:polygon[@class='zone']", NS)}
        for p in points if name != "no_draws" else ():
            circle = p.find("s:circle", NS)
            x, y = float(circle.get("cx")), float(circle.get("cy"))
            zone = p.get("data-zone")
            assert _inside(x, y, polygons[zone]), (name, p.get("data-key"), zone)   # drawn in its own zone
            assert not any(_inside(x, y, poly) for z, poly in polygons.items() if z != zone), name
            gain = float(p.get("data-importance")) * (100 - float(p.get("data-performance")))
            if edges[zone]:
                assert gain > float(edges[zone]), name
        if name == "no_draws":   # the order only: no zones drawn, no zone on any point
            assert polygons == {} and set(listed.values()) == {None}
        else:   # the first zone is always "improve first", with the top lever in it
            assert list(polygons)[0] == "improve_first" == levers[0]["zone"]
    assert decided["ce_heavy"]["ipma"][0]["construct"] == "CE"  # the all-driver map would have put CE first
    assert any(r["tied"] for result in decided.values() for r in result["improve_first"])
    assert any(len(result["decision"]["zones"]) > 1 for result in decided.values())


def test_chart_labels_carry_the_list_numbers_and_do_not_overlap(decided):
    result = decided["sim4"]
    root = parse(charts.ipma_chart(result["improve_first"], result["decision"]["zones"],
                                   zone_labels={"improve_first": "优先改进", "next": "其次", "later": "以后"}))
    labels = [g.find("s:text", NS) for g in root.findall(".//s:g[@class='point']", NS)]
    assert [t.text for t in labels] == [f'{r["priority"]}. {r["item"]}' for r in result["improve_first"]]
    boxes = []
    for t in labels:
        x, y, w = float(t.get("x")), float(t.get("y")), 7.5 * len(t.text)
        x0 = x - w if t.get("text-anchor") == "end" else x
        boxes.append((x0, y - 12, x0 + w, y + 3))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    assert "优先改进" in texts(root)


def test_bar_chart_widths_and_whiskers_follow_values():
    bars = [{"label": "A", "value": 80.0, "ci": [75.0, 85.0]}, {"label": "B", "value": 40.0, "ci": None},
            {"label": "C", "value": None, "note": "n < 30"}]
    root = parse(charts.bar_chart(bars))
    rects = root.findall(".//s:rect[@class='bar']", NS)
    assert [float(r.get("data-value")) for r in rects] == [80.0, 40.0]
    assert float(rects[0].get("width")) == pytest.approx(2 * float(rects[1].get("width")))
    whiskers = root.findall(".//s:g[@class='whisker']", NS)
    assert len(whiskers) == 1 and whiskers[0].get("data-lo") == "75.0000"
    assert "n < 30" in texts(root)


def test_trend_chart_one_polyline_per_series_and_gaps_split_lines():
    root = parse(charts.trend_chart(["W1", "W2", "W3"], [
        {"name": "CSI", "values": [70.0, 72.0, 71.0]},
        {"name": "PQ", "values": [65.0, None, 69.0]}]))
    series = root.findall(".//s:g[@class='series']", NS)
    assert [s.get("data-name") for s in series] == ["CSI", "PQ"]
    assert len(series[0].findall("s:polyline", NS)) == 1
    assert len(series[0].find("s:polyline", NS).get("points").split()) == 3
    assert len(series[1].findall("s:circle", NS)) == 2
    labels = [t for t in texts(root) if t.startswith(("CSI ", "PQ "))]
    assert labels == ["CSI 71.0", "PQ 69.0"] or sorted(labels) == ["CSI 71.0", "PQ 69.0"]


def test_single_wave_trend_and_empty_ipma_do_not_crash():
    parse(charts.trend_chart(["W1"], [{"name": "CSI", "values": [70.0]}]))
    parse(charts.ipma_chart([], []))
    parse(charts.bar_chart([]))


def test_complaints_say_lower_is_better_beside_the_other_scores(result):
    bars = [{"label": "Satisfaction", "value": 70.0, "ci": [68.0, 72.0]},
            {"label": "Complaints", "value": 25.0, "ci": [23.0, 27.0], "sub": "lower is better"}]
    svg = parse(charts.bar_chart(bars))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts.count("lower is better") == 1 and texts.index("lower is better") == texts.index("Complaints") + 1
    trend = parse(charts.trend_chart(["Wave 1", "Wave 2"], [
        {"name": "CS", "values": [70.0, 71.0]}, {"name": "CC", "values": [30.0, 29.0], "note": "lower is better"}]))
    subs = [t for t in trend.iter(f"{SVG}text") if t.get("class") == "sub"]
    ends = {t.text: float(t.get("y")) for t in trend.iter(f"{SVG}text") if t.get("class") == "end-label"}
    assert [t.text for t in subs] == ["lower is better"] and float(subs[0].get("y")) == ends["CC 29.0"] + 13
    path = parse(charts.path_diagram(result, notes={"CC": "lower is better"}))
    cc = next(g for g in path.iter(f"{SVG}g") if g.get("data-code") == "CC")
    assert [t.text for t in cc.iter(f"{SVG}tspan")] == [" · lower is better"]
    assert not [t for g in path.iter(f"{SVG}g") if g.get("data-code") != "CC" for t in g.iter(f"{SVG}tspan")]
