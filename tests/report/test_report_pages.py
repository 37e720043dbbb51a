"""The report blueprint end to end on both databases: pages, words, cache, progress, exports."""
import csv
import io
import json
import math
import threading
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

import model
from survey.report import cache, compute
from survey import services
from survey.report.wording import MESSAGES, WARNINGS, item_name, warning_text

SVG = "{http://www.w3.org/2000/svg}"
URL = "/manage/surveys/demo/report"


def svgs(html: str) -> dict:
    """Parse every inline SVG of a page, keyed by its chart class."""
    out = {}
    start = 0
    while (i := html.find("<svg", start)) >= 0:
        j = html.find("</svg>", i) + len("</svg>")
        root = ET.fromstring(html[i:j])
        out.setdefault(root.get("class").split()[-1], []).append(root)
        start = j
    return out


def test_report_requires_login(client, demo):
    for url in (URL, URL + ".json", URL + "/estimates.csv", URL + "/scores.csv", URL + "/print"):
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"], url


def test_report_shows_the_fitted_index_charts_and_words(client, manager, demo, say):
    page = client.get(URL + "?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    result = client.get(URL + ".json").get_json()
    cs = result["constructs"]["CS"]
    assert f'data-value="{cs["index"]:.4f}"' in html
    assert f'{cs["index_ci"][0]:.1f}–{cs["index_ci"][1]:.1f}' in html
    charts = svgs(html)
    paths = charts["path-diagram"][0].findall(f".//{SVG}line[@data-from]")
    assert len(paths) == 9
    dashed = {(p.get("data-from"), p.get("data-to")) for p in paths if p.get("stroke-dasharray")}
    assert dashed == {(p["from"], p["to"]) for p in result["paths"] if p["p_value"] >= 0.05}
    assert len(charts["ipma-chart"][0].findall(f".//{SVG}g[@class='point']")) == len(result["improve_first"])
    assert "trend-chart" in charts  # two waves
    assert len(charts["bar-chart"]) >= 2  # scores + segments
    assert say("improve_first") in html and say("headline") in html
    for w in result["warnings"]:
        assert f'data-code="{w["code"]}"' in html
    # The improve-first list speaks plain words: the priority-1 lever's short name, score, gain and impact.
    top = result["improve_first"][0]
    first = html.split('<ol class="improve">')[1].split("</li>")[0]
    assert say(item_name, top["item"]) in first
    assert (f'score {top["performance"]:.0f}, gain {top["gain"]:.1f}, impact {5 * top["importance"]:.1f}'
            in first)


def test_report_in_chinese(client, manager, demo, say):
    html = client.get(URL + "?lang=zh_CN").get_data(as_text=True)
    for msg in ("headline", "path_model", "ipma", "quality", "segments", "trend", "improve_first"):
        assert say(msg, locale="zh_CN") in html, msg
    assert "顾客满意度" in html and say("headline") not in html


def test_wave_change_is_tested_against_the_previous_wave(client, manager, demo, db_session, app, say):
    client.get(URL)
    with app.app_context():
        key = next(iter(cache.CACHE.entries))
        entry = cache.CACHE.entries[key]
    change = entry["change"]
    w1, w2 = entry["waves"][0]["scores"]["CS"], entry["waves"][1]["scores"]["CS"]
    assert change["diff"] == pytest.approx(w2["mean"] - w1["mean"])
    se = ((w1["ci"][1] - w1["ci"][0]) ** 2 + (w2["ci"][1] - w2["ci"][0]) ** 2) ** 0.5 / (2 * 1.959964)
    assert change["z"] == pytest.approx(change["diff"] / se, rel=1e-4)
    html = client.get(URL + "?lang=en").get_data(as_text=True)
    word = "change_sig" if change["significant"] else "change_not_sig"
    assert say(word).split("(")[0] in html


def _headline(html):
    return float(html.split('class="csi-value" data-value="')[1].split('"')[0])


def _trend_cell(html, wave, code="CS"):
    row = html.split(f'<tr data-wave="{wave}"')[1].split("</tr>")[0]
    cell = row.split(f'data-code="{code}" data-value="')[1]
    return float(cell.split('"')[0]), cell.split(">")[1].split("<")[0]


def test_now_is_one_number_the_latest_wave(client, manager, demo, app, say):
    """The default view is the latest wave: its headline, the ?wave=2 view and the trend table's row show one
    number, and the change beside it is the trend table's difference with the z test on the two intervals."""
    page = client.get(URL + "?lang=en").get_data(as_text=True)
    wave2 = client.get(URL + "?lang=en&wave=2").get_data(as_text=True)
    now = _headline(page)
    assert _headline(wave2) == now
    assert client.get(URL + ".json").get_json()["constructs"]["CS"]["index"] == pytest.approx(now, abs=5e-5)
    assert 'id="shown-wave">Wave 2 – Autumn (latest)<' in page
    value, text = _trend_cell(page, 2)
    assert value == pytest.approx(now, abs=5e-5) and text == f"{now:.1f}"
    assert f'<span class="csi-value" data-value="{now:.4f}">{now:.1f}</span>' in page
    before, _ = _trend_cell(page, 1)
    diff = float(page.split('id="wave-change" data-diff="')[1].split('"')[0])
    assert diff == pytest.approx(value - before, abs=1e-3)
    entry = next(e for e in cache.CACHE.entries.values() if e["wave"] == 2)
    (lo1, hi1), (lo2, hi2) = (w["scores"]["CS"]["ci"] for w in entry["waves"])
    z = (value - before) / (((hi1 - lo1) ** 2 + (hi2 - lo2) ** 2) ** 0.5 / (2 * 1.959964))
    p = math.erfc(abs(z) / math.sqrt(2))
    assert say("change_vs", change=diff, prev=1) in page
    assert (say("change_sig", p=f"{p:.3f}") if p < 0.05 else say("change_not_sig", p=f"{p:.3f}")) in page
    assert [lo2, hi2] == pytest.approx(list(entry["result"]["constructs"]["CS"]["index_ci"]), abs=1e-9)
    pooled = client.get(URL + "?lang=en&wave=all").get_data(as_text=True)
    assert 'id="shown-wave">All waves pooled<' in pooled and _headline(pooled) != now
    assert say("change_between", change=float(pooled.split('data-diff="')[1].split('"')[0]), prev=1, wave=2) in pooled
    assert '<option value="all" selected>' in pooled and '<option value="2" selected>' in page


def test_cache_reuses_the_fit_until_a_response_arrives(client, manager, demo, db_session, monkeypatch):
    calls = []
    real = compute.compute_report
    monkeypatch.setattr(compute, "compute_report", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert client.get(URL).status_code == 200
    assert client.get(URL).status_code == 200
    assert client.get(URL + ".json").status_code == 200
    assert len(calls) == 1
    client.get(URL + "?wave=1")
    assert len(calls) == 2  # another view is another key
    frame = services.responses_frame(db_session, demo)
    row = frame.drop(columns=["response_id", "created_at", "wave", "locale", "source"]).iloc[0].to_dict()
    services.record_response(db_session, demo, {k: v for k, v in row.items() if v is not None and v == v})
    client.get(URL)
    assert len(calls) == 3


def test_slow_fit_shows_a_self_refreshing_progress_page(client, manager, demo, app, monkeypatch):
    release = threading.Event()
    real = compute.compute_report

    def slow(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(compute, "compute_report", slow)
    app.config["REPORT_WAIT_SECONDS"] = 0.05
    pending = client.get(URL + "?wave=2")
    assert pending.status_code == 202
    html = pending.get_data(as_text=True)
    assert 'http-equiv="refresh"' in html and "wave=2" in html
    assert client.get(URL + "?wave=2").status_code == 202  # same job, not a second one
    release.set()
    app.config["REPORT_WAIT_SECONDS"] = 10
    assert client.get(URL + "?wave=2").status_code == 200


def test_too_few_responses_show_descriptive_scores_and_how_many_more(client, manager, demo_survey, db_session,
                                                                     say):
    frame_rows = [{f"{c}{k}": 7 for c, n in {"CE": 3, "PQ": 3, "PV": 2, "CS": 3, "CL": 2}.items()
                   for k in range(1, n + 1)} | {"CC1": 3, "complained": "no"} for _ in range(5)]
    services.record_responses_bulk(db_session, demo_survey, frame_rows)
    html = client.get("/manage/surveys/csi/report?lang=en").get_data(as_text=True)
    spec = compute.spec_for(compute.survey_info(demo_survey))
    need = model.min_responses(spec)
    assert say("too_few_title") in html
    assert f"needs {need} responses with rated answers; there are 5. {need - 5} more are needed" in html
    assert ">66.7<" in html  # answer 7 on 1-10 = 66.7 on 0-100
    assert client.get("/manage/surveys/csi/report.json").status_code == 409


def test_empty_survey_and_bad_filters(client, manager, demo_survey):
    assert "No responses yet" in client.get("/manage/surveys/csi/report?lang=en").get_data(as_text=True)
    html = client.get("/manage/surveys/csi/report?lang=en&segment=region:mars&wave=x").get_data(as_text=True)
    assert "showing the latest wave" in html
    assert client.get("/manage/surveys/nope/report").status_code == 404


def test_segments_below_minimum_are_suppressed(client, manager, demo):
    client.get(URL)
    entry = next(iter(cache.CACHE.entries.values()))
    region = {r["value"]: r for r in entry["segments"]["region"]}
    frame_counts = pd.Series([r["n"] for r in region.values()], index=list(region))
    assert frame_counts.sum() == entry["n"]
    for r in region.values():
        assert r["suppressed"] == (r["n"] < compute.MIN_SEGMENT_N)
        assert (r["mean"] is None) == r["suppressed"]
    assert any(not r["suppressed"] for r in region.values())


def test_segment_filter_restricts_the_respondents(client, manager, demo, db_session):
    client.get(URL + "?segment=channel:online")  # the latest wave by default
    entry = next(iter(cache.CACHE.entries.values()))
    frame = services.responses_frame(db_session, demo)
    assert entry["wave"] == 2 and entry["n"] == int(((frame["channel"] == "online") & (frame["wave"] == 2)).sum())
    assert "channel" not in entry["segments"]
    cache.CACHE.clear()
    client.get(URL + "?segment=channel:online&wave=all")
    entry = next(iter(cache.CACHE.entries.values()))
    assert entry["wave"] is None and entry["n"] == int((frame["channel"] == "online").sum())


def test_comments_are_escaped_and_filtered_by_band(client, manager, demo, db_session):
    frame = services.responses_frame(db_session, demo)
    row = frame.iloc[0].drop(["response_id", "created_at", "wave", "locale", "source"]).to_dict()
    row = {k: v for k, v in row.items() if v is not None and v == v}
    for c in ("CS1", "CS2", "CS3"):
        row[c] = 1
    row["comment"] = "<script>alert('x')</script> terrible"
    services.record_response(db_session, demo, row)
    html = client.get(URL + "?band=low").get_data(as_text=True)
    assert "&lt;script&gt;alert(" in html and "<script>alert" not in html
    high = client.get(URL + "?band=high").get_data(as_text=True)
    assert "terrible" not in high


def test_exports_json_estimates_scores_and_print(client, manager, demo, db_session):
    result = json.loads(client.get(URL + ".json").data)
    for key in ("n_used", "n_dropped", "converged", "warnings", "constructs", "paths", "effects", "fit", "ipma"):
        assert key in result
    est = client.get(URL + "/estimates.csv")
    assert est.data.startswith(b"\xef\xbb\xbf") and est.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(est.data.decode("utf-8-sig"))))
    index = next(r for r in rows if r["section"] == "construct" and r["name"] == "CS" and r["statistic"] == "index")
    assert float(index["value"]) == pytest.approx(result["constructs"]["CS"]["index"])
    assert sum(r["section"] == "path" and r["statistic"] == "std_estimate" for r in rows) == 9
    scores = client.get(URL + "/scores.csv")
    assert scores.data.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(io.StringIO(scores.data.decode("utf-8-sig")))
    frame = services.responses_frame(db_session, demo)
    frame = frame[frame["wave"] == frame["wave"].max()]  # the default view is the latest wave
    assert len(table) == len(frame) and list(table.columns[-6:]) == ["CE", "PQ", "PV", "CS", "CC", "CL"]
    # Respondent scores use the fitted weights: weighted mean of the row's answers, rescaled 1-10 → 0-100.
    weights = result["constructs"]["CS"]["weights"]
    for i in (0, 1, 2):
        answers = frame.iloc[i][list(weights)].astype(float)
        w = pd.Series(weights)[answers.notna()]
        expected = ((answers.dropna() * w).sum() / w.sum() - 1) / 9 * 100
        assert table["CS"].iloc[i] == pytest.approx(expected, abs=1e-3)
    printable = client.get(URL + "/print").get_data(as_text=True)
    assert "printable" in printable and 'class="filters' not in printable


def test_every_message_has_both_languages_with_the_same_fields(say):
    import string

    for key, lazy in MESSAGES.items():
        en, zh = say(str, lazy), say(str, lazy, locale="zh_CN")
        assert en and zh, key
        fields = lambda s: sorted(f for _, f, _, _ in string.Formatter().parse(s) if f)
        assert fields(en) == fields(zh), key


def test_every_engine_warning_code_has_words_and_advice(say):
    import re
    from pathlib import Path

    source = (Path(model.__file__).parent / "verdicts.py").read_text()
    codes = set(re.findall(r'add\("(\w+)"', source))
    assert codes and codes <= set(WARNINGS), codes - set(WARNINGS)
    for code in WARNINGS:
        for locale in ("en", "zh_CN"):
            meaning, todo = say(warning_text, code, locale=locale)
            assert meaning and todo, (code, locale)


def test_responses_to_another_survey_keep_the_report_cached(client, manager, demo, demo_survey, db_session,
                                                            valid_answers, monkeypatch):
    calls = []
    real = compute.compute_report
    monkeypatch.setattr(compute, "compute_report", lambda *a, **k: calls.append(1) or real(*a, **k))
    client.get(URL)
    services.record_response(db_session, demo_survey, valid_answers())
    client.get(URL)
    assert len(calls) == 1
    entry = next(iter(cache.CACHE.entries.values()))
    assert entry["version"].count == 400


def test_cached_entry_is_frozen_and_unchanged_by_rendering(client, manager, demo):
    """Request threads share the cached entry: rendering it in both languages, from several threads at once,
    must neither write into it nor be able to."""
    assert client.get(URL + "?lang=en").status_code == 200
    entry = next(iter(cache.CACHE.entries.values()))
    before = compute.thaw(dict(entry))
    with pytest.raises(AttributeError):
        entry.state = "empty"
    with pytest.raises(TypeError):
        entry["result"]["constructs"]["CS"]["index"] = 0.0
    with pytest.raises(AttributeError):
        entry["waves"].append({})
    pages = []
    with client.session_transaction() as sess:
        cookie = dict(sess)
    threads = []
    for lang in ("en", "zh", "en", "zh"):
        tc = client.application.test_client()
        with tc.session_transaction() as sess:
            sess.update(cookie)
        threads.append(threading.Thread(target=lambda tc=tc, lang=lang: pages.append(tc.get(URL + f"?lang={lang}"))))
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert len(pages) == 4 and all(p.status_code == 200 for p in pages)
    assert next(iter(cache.CACHE.entries.values())) is entry  # no refit, same entry
    assert compute.thaw(dict(entry)) == before
    assert "svg" not in entry


def test_complaints_to_loyalty_path_is_explained_by_its_sign(result, say):
    from survey.report.present import complaint_path

    path = next(p for p in result["paths"] if (p["from"], p["to"]) == ("CC", "CL"))
    for coef, p_value, word in ((0.21, 0.001, "cc_cl_positive"), (-0.18, 0.002, "cc_cl_negative"),
                                (-0.04, 0.41, "cc_cl_negative")):
        path.update(std_estimate=coef, p_value=p_value)
        for locale in ("en", "zh_CN"):
            text = say(complaint_path, {"result": result}, locale=locale)
            expected = say(word, coef=f"{coef:.2f}", locale=locale)
            if p_value >= 0.05:
                expected += " " + say("cc_cl_ns", p=f"{p_value:.3f}", locale=locale)
            assert text == expected
    assert say(complaint_path, {"result": None}) is None


def test_segment_and_wave_are_named_by_their_labels(client, manager, demo):
    html = client.get(URL + "?lang=en&segment=channel:online&wave=1").get_data(as_text=True)
    question = next(q for q in demo.active_questions if q.code == "channel")
    label = next(o["en"] for o in question.options if o["value"] == "online")
    assert f'id="shown-segment">{question.text_en}: {label}<' in html
    meta = html.split('<p class="meta">')[1].split("</p>")[0]
    assert 'id="shown-wave">Wave 1 – Spring<' in meta and "channel" not in meta and "online" not in meta
