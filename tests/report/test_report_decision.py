"""The report's decision layer on the demo survey: the improve-first list and the IPMA chart from one rule
(levers only, expectations as context), ties and the chance of the first lever when bootstrapped, and the
what-if form (plain GET, English and Chinese)."""
import re
import xml.etree.ElementTree as ET

import pytest

import model
from survey.report import compute

URL = "/manage/surveys/demo/report"
SVG = "{http://www.w3.org/2000/svg}"


def _ipma(html):
    i = html.find('<svg', html.find('id="ipma-chart"'))
    return ET.fromstring(html[i:html.find("</svg>", i) + 6])


def _list(html):
    block = html.split('<ol class="improve">')[1].split("</ol>")[0]
    return re.findall(r'<li data-item="([^"]+)" data-zone="([^"]*)" data-tier="(\d*)">(.*?)</li>', block, re.S)


def _by_hand(result, item, change):
    """CS and CL change for one item: total effect on the index metric x the item's weight x the change."""
    construct = next(c for c, v in result["constructs"].items() if item in v["items"])
    weight = result["constructs"][construct]["weights"][item]
    total = {e["to"]: e["total_index"] for e in result["effects"] if e["from"] == construct}
    return {target: total[target] * weight * change for target in ("CS", "CL")}


def test_list_and_chart_show_the_same_levers_and_expectations_only_as_context(client, manager, demo, say):
    html = client.get(URL + "?lang=en").get_data(as_text=True)
    result = client.get(URL + ".json").get_json()
    rows = _list(html)
    levers = result["improve_first"]
    assert [r[0] for r in rows] == [r["item"] for r in levers]
    assert not any(item.startswith("CE") for item, *_ in rows)
    points = {g.get("data-key"): g.get("data-zone") for g in _ipma(html).iter(f"{SVG}g") if g.get("class") == "point"}
    assert points == {item: zone for item, zone, *_ in rows}          # chart and list: same levers
    assert [r["zone"] or "" for r in levers] == [zone for _, zone, *_ in rows]
    context = html.split('id="context"')[1].split("</div>")[0]
    assert say("context_title") in html and result["constructs"]["CE"]["name_en"] in context
    # no bootstrap in this entry: the page says the intervals are coming and gives the order only
    # (no zone labels, no ties, no chance of the first), the chart no zones
    assert 'id="intervals-pending"' in html and say("about_equal") not in html and 'id="p-first"' not in html
    assert {zone for _, zone, *_ in rows} == {""} and say("zone_improve_first") not in html.split('<ol class="improve">')[1]
    assert not [p for p in _ipma(html).iter(f"{SVG}polygon")]
    top = levers[0]
    assert f'gain {top["gain"]:.1f}' in rows[0][3]


@pytest.fixture
def bootstrapped(monkeypatch):
    """Reports computed with 40 bootstrap draws (as the background bootstrap will store them)."""
    from model.exceptions import silenced

    def fit(frame, spec, scale, estimator="mlr"):
        with silenced():
            return model.fit(frame, spec=spec, scale=scale, estimator=estimator, bootstrap=40, seed=2)
    monkeypatch.setattr(compute, "_fit_quietly", fit)


def test_with_draws_intervals_ties_and_the_chance_of_the_first_lever(client, manager, demo, bootstrapped, say):
    html = client.get(URL + "?lang=en").get_data(as_text=True)
    result = client.get(URL + ".json").get_json()
    levers = result["improve_first"]
    assert 'id="intervals-pending"' not in html
    p = result["decision"]["p_first"]
    assert p is not None and f"{p * 100:.0f}%" in html.split('id="p-first"')[1].split("</p>")[0]
    rows = _list(html)
    for (item, zone, tier, text), lever in zip(rows, levers):
        assert int(tier) == lever["tier"] and zone == lever["zone"]
        assert f'{lever["gain_ci"][0]:.1f} to {lever["gain_ci"][1]:.1f}' in text
        assert (say("about_equal") in text) == lever["tied"]
    points = {g.get("data-key"): g.get("data-zone") for g in _ipma(html).iter(f"{SVG}g") if g.get("class") == "point"}
    assert points == {item: zone for item, zone, *_ in rows}          # chart and list: same zones
    # levers in one tier carry the same label; a new label only where the tier changes
    labels = [re.search(r'<strong class="zone-[^"]+">([^<]+)</strong>', text).group(1) for *_, text in rows]
    for k in range(1, len(rows)):
        if rows[k][2] == rows[k - 1][2]:
            assert labels[k] == labels[k - 1]


def test_what_if_form_predicts_from_the_total_effects(client, manager, demo):
    result = client.get(URL + ".json").get_json()
    item = result["improve_first"][0]["item"]
    html = client.get(f"{URL}?lang=en&lever={item}&change=5").get_data(as_text=True)
    block = html.split('id="what-if-result"')[1].split("</ul>")[0]
    shown = dict(re.findall(r'data-target="(\w+)" data-change="([-\d.]+)"', block))
    expected = _by_hand(result, item, 5)
    assert {k: float(v) for k, v in shown.items()} == pytest.approx(expected, abs=1e-4)
    assert f'{expected["CS"]:+.1f} points' in block
    assert f'value="{item}" checked' in html                            # the form comes back as sent
    # two levers add up
    other = result["improve_first"][1]["item"]
    html = client.get(f"{URL}?lever={item}&lever={other}&change=-3").get_data(as_text=True)
    block = html.split('id="what-if-result"')[1].split("</ul>")[0]
    cs = float(re.search(r'data-target="CS" data-change="([-\d.]+)"', block).group(1))
    assert cs == pytest.approx(_by_hand(result, item, -3)["CS"] + _by_hand(result, other, -3)["CS"], abs=1e-4)


@pytest.mark.parametrize("query, message", [
    ("change=5", "whatif_pick"),
    ("lever=PQ1&change=abc", "whatif_bad_change"),
    ("lever=PQ1&change=500", "whatif_bad_change"),
    ("lever=CE1&change=5", "whatif_not_lever"),
    ("lever=PQ1&change=45", "whatif_range"),
])
def test_what_if_bad_input_comes_back_with_a_message(client, manager, demo, say, query, message):
    if message == "whatif_range":
        assert client.get(URL + ".json").get_json()["constructs"]["PQ"]["item_scores"]["PQ1"] + 45 > 100
    page = client.get(f"{URL}?lang=en&{query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    error = html.split('id="what-if-error">')[1].split("</p>")[0]
    template = say(message)
    pattern = ".+".join(re.escape(part) for part in re.split(r"\{\w+\}", template))
    assert re.search(pattern, error), (template, error)
    assert 'id="what-if-result"' not in html


def test_what_if_and_the_list_in_chinese(client, manager, demo, say):
    result = client.get(URL + ".json").get_json()
    item = result["improve_first"][0]["item"]
    html = client.get(f"{URL}?lang=zh_CN&lever={item}&change=5").get_data(as_text=True)
    for msg in ("whatif", "whatif_levers", "whatif_run", "context_title", "intervals_pending", "improve_note"):
        assert say(msg, locale="zh_CN") in html, msg
    assert say("whatif", locale="zh_CN") != say("whatif")
    assert 'id="what-if-result"' in html
    print_html = client.get(URL + "/print?lang=zh_CN").get_data(as_text=True)
    assert 'id="what-if"' not in print_html and '<ol class="improve">' in print_html
