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


def test_ipma_quadrant_lines_sit_at_the_means(result):
    rows = result["ipma"]
    assert len(rows) == 3 and rows == sorted(rows, key=lambda r: -r["importance"])
    rows[0]["performance"] = min(r["performance"] for r in rows) - 5  # the most important one performs worst
    performance, importance = [r["performance"] for r in rows], [r["importance"] for r in rows]
    first = rows[0]["construct"]
    root = parse(charts.ipma_chart(rows, names={first: NAMES_ZH[first]}))
    qx = root.find(".//s:line[@class='quadrant-x']", NS)
    qy = root.find(".//s:line[@class='quadrant-y']", NS)
    assert float(qx.get("data-value")) == pytest.approx(sum(performance) / 3, abs=1e-4)
    assert float(qy.get("data-value")) == pytest.approx(sum(importance) / 3, abs=1e-4)
    points = root.findall(".//s:g[@class='point']", NS)
    assert [p.get("data-key") for p in points] == [r["construct"] for r in rows]
    assert NAMES_ZH[first] in texts(root)
    # The first: importance above the mean and performance below it → flagged red (improve first).
    assert points[0].find("s:circle", NS).get("fill") == "#b42318"
    assert importance[2] < sum(importance) / 3 and points[2].find("s:circle", NS).get("fill") != "#b42318"
    # Higher importance is drawn higher (smaller y).
    ys = [float(p.find("s:circle", NS).get("cy")) for p in points]
    assert ys[0] < ys[1] < ys[2]


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
    parse(charts.ipma_chart([]))
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
