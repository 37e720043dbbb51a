"""The report's response-quality section on both databases: flag counts, the index with and without flagged
responses, the manager's reversible exclusion (audit log, exports keep every response), English and Chinese."""
import csv
import io
import re

import pandas as pd
import pytest
import sqlalchemy as sa

from survey import services
from survey.report import cache, compute
from survey.storage.tables import Response

URL = "/manage/surveys/demo/report"  # these tests read the pooled view (?wave=all): all 425 responses
ITEMS = ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3", "CC1", "CL1", "CL2")
BLOCKS = (("CE1", "CE2", "CE3"), ("PQ1", "PQ2", "PQ3"), ("CS1", "CS2", "CS3"))  # the template's 3-item blocks


def add_straight_liners(db_session, survey, valid_answers, n=25):
    """n responses answering 2 to every rated item; return their ids."""
    before = set(db_session.scalars(sa.select(Response.id)))
    services.record_responses_bulk(db_session, survey, [valid_answers(**dict.fromkeys(ITEMS, "2"))] * n)
    return set(db_session.scalars(sa.select(Response.id))) - before


def by_hand_straight_liners(frame) -> set:
    """Rows whose every 3-item block is fully rated with one value (the demo has no other pattern of the rule)."""
    one_value = [frame[list(b)].notna().all(axis=1) & (frame[list(b)].nunique(axis=1) == 1) for b in BLOCKS]
    return set(frame.loc[one_value[0] & one_value[1] & one_value[2], "response_id"])


def section(html: str) -> str:
    return html.split('id="response-quality"')[1].split("</section>")[0]


def shown(html: str) -> dict:
    """The numbers the page shows: headline index, flag counts, index with and without flagged responses."""
    part = section(html)
    return {"index": float(re.search(r'class="csi-value" data-value="([0-9.]+)"', html).group(1)),
            "counts": {f: int(re.search(rf'data-flag="{f}"><td>[^<]*</td><td class="num">(\d+)', part).group(1))
                       for f in ("straight_lining", "speeder", "repeat")},
            "flagged": int(re.search(r'data-flagged="(\d+)"', part).group(1)),
            "with": re.search(r'data-index="with">([0-9.]+) <small>\(n = (\d+)\)', part).groups(),
            "without": re.search(r'data-index="without">([0-9.]+) <small>\(n = (\d+)\)', part).groups()}


def latest_entry():
    return list(cache.CACHE.entries.values())[-1]


def scores_download(client):
    """The report's per-respondent 0-100 scores (scores.csv): response id -> CS score."""
    table = pd.read_csv(io.BytesIO(client.get(URL + "/scores.csv?wave=all").data), encoding="utf-8-sig")
    return table.set_index("response_id")["CS"]


def with_and_without(scores, excluded):
    """What the section should show, from the scores download: (mean, n) of all rows and of the unflagged."""
    kept = scores[~scores.index.isin(excluded)]
    return (f"{scores.mean():.1f}", str(len(scores))), (f"{kept.mean():.1f}", str(len(kept)))


def test_page_counts_each_flag_in_english_and_chinese(client, manager, demo, db_session, valid_answers):
    ours = add_straight_liners(db_session, demo, valid_answers)
    natural = by_hand_straight_liners(services.responses_frame(db_session, demo).iloc[:400])
    ids = db_session.scalars(sa.select(Response.id).order_by(Response.id).limit(100)).all()
    for k, rid in enumerate(ids):  # 100 timed demo responses, median 300 s: 40 s and 90 s are speeders
        ms = 40_000 if k == 10 else 90_000 if k == 20 else 300_000
        db_session.execute(sa.update(Response).where(Response.id == rid).values(duration_ms=ms))
    db_session.commit()
    html = client.get(URL + "?wave=all&lang=en").get_data(as_text=True)
    numbers = shown(html)
    assert numbers["counts"] == {"straight_lining": len(ours) + len(natural), "speeder": 2, "repeat": 0}
    assert numbers["flagged"] == len(ours | natural | {ids[10], ids[20]})
    assert numbers["with"][1] == "425" and int(numbers["without"][1]) == 425 - numbers["flagged"]
    # both on this report's weights: the means of the scores download over all rows and over the unflagged
    assert (numbers["with"], numbers["without"]) == with_and_without(scores_download(client),
                                                                     ours | natural | {ids[10], ids[20]})
    assert float(numbers["without"][0]) > float(numbers["with"][0])  # the straight-liners answered 2 everywhere
    part = section(html)
    assert "Response quality" in part and "under 100 s" in part and "Leave the flagged responses out" in part
    chinese = section(client.get(URL + "?wave=all&lang=zh").get_data(as_text=True))
    assert "回答质量" in chinese and "直线作答" in chinese and "不计入报告" in chinese


def test_speeder_rule_waits_for_100_timed_responses_on_the_page(client, manager, demo, db_session):
    ids = db_session.scalars(sa.select(Response.id).order_by(Response.id).limit(99)).all()
    for k, rid in enumerate(ids):
        db_session.execute(sa.update(Response).where(Response.id == rid).values(
            duration_ms=10_000 if k == 0 else 300_000))
    db_session.commit()
    part = section(client.get(URL + "?wave=all&lang=en").get_data(as_text=True))
    assert re.search(r'data-flag="speeder"><td>[^<]*</td><td class="num">0<', part)
    assert "Judged once 100 responses are timed by the web form (99 here so far)." in part


def test_exclusion_recomputes_the_report_without_the_flagged_rows_and_is_reversible(
        client, manager, demo, db_session, valid_answers):
    ours = add_straight_liners(db_session, demo, valid_answers)
    frame = services.responses_frame(db_session, demo)
    excluded = ours | by_hand_straight_liners(frame)
    info = compute.survey_info(demo)
    assert info["exclude_flagged"] is False
    everyone = compute.compute_report(frame, info)
    without = compute.compute_report(frame[~frame["response_id"].isin(excluded)].reset_index(drop=True), info)
    assert everyone.n == 425 and without.n == 425 - len(excluded)

    before = shown(client.get(URL + "?wave=all&lang=en").get_data(as_text=True))
    assert latest_entry().n == 425
    assert before["index"] == pytest.approx(everyone.result["constructs"]["CS"]["index"], abs=5e-5)

    response = client.post(URL + "/exclusion", data={"exclude": "1", "wave": "all"})
    assert response.status_code == 302 and response.location.endswith(URL + "?wave=all#response-quality")
    html = client.get(URL + "?wave=all&lang=en").get_data(as_text=True)
    after = shown(html)
    entry = latest_entry()
    assert entry.n == without.n and entry.response_quality["excluded"] is True
    assert entry.result["constructs"]["CS"]["index"] == pytest.approx(without.result["constructs"]["CS"]["index"])
    assert after["index"] == pytest.approx(without.result["constructs"]["CS"]["index"], abs=5e-5)
    assert [w["n"] for w in entry.waves] == [w["n"] for w in without.waves]
    assert (after["with"], after["without"]) == with_and_without(scores_download(client), excluded)
    assert 'id="flagged-left-out"' in html and "Take the flagged responses back in" in html

    # the responses are all still there, and the export marks the left-out ones
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Response)) == 425
    export = client.get("/manage/surveys/demo/export.csv")
    rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8-sig"))))
    assert len(rows) == 425
    left_out = {int(r["response_id"]) for r in rows if r["excluded_from_report"] == "true"}
    assert left_out == excluded
    assert {r["quality_flags"] for r in rows if int(r["response_id"]) in excluded} == {"straight_lining"}
    assert {r["quality_flags"] for r in rows if int(r["response_id"]) not in excluded} == {""}
    assert {r["duration_s"] for r in rows} == {""}  # imported and simulated responses are not timed

    assert client.post(URL + "/exclusion", data={"exclude": "0"}).status_code == 302
    back = shown(client.get(URL + "?wave=all&lang=en").get_data(as_text=True))
    assert latest_entry().n == 425 and back["index"] == before["index"]

    events = [e for e in services.audit.list_events(db_session)[0] if e.action == "report_exclusion"]
    assert [(e.target, e.detail, e.email) for e in reversed(events)] == [
        ("demo", "wave=all; exclude=1", manager.email), ("demo", "exclude=0", manager.email)]


def test_exclusion_keeps_the_view_and_refuses_a_bad_choice(client, manager, demo, db_session):
    response = client.post(URL + "/exclusion", data={"exclude": "1", "wave": "2"})
    assert response.location.endswith(URL + "?wave=2#response-quality")
    assert client.post(URL + "/exclusion", data={"exclude": "maybe"}).status_code == 400
    db_session.expire_all()
    assert services.get_survey(db_session, "demo").exclude_flagged is True
