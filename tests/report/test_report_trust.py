"""The report's second pass on both databases: bootstrap intervals in the background (in-process and on RQ),
one per data version, reproducible; the survey's estimator with a second opinion; and the invariance gate on
group comparisons (constructed data: invariant groups vs an item whose intercept shifts in one group)."""
import importlib.util
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

import model
from model.exceptions import silenced
from survey import jobs, services
from survey.report import cache, compute, inference
from survey.storage.tables import AuditEvent, ReportSnapshot, Survey, utcnow

from tests.report.test_report_store import REDIS, redis_queue, second_server  # noqa: F401 (fixtures)

URL = "/manage/surveys/demo/report"
HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_data", HERE.parent / "model" / "invariance" / "make_data.py")
make_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_data)


def second_pass_on(app, draws=40, compare=False):
    app.config.update(REPORT_SECOND_PASS=True, REPORT_BOOTSTRAP_DRAWS=draws, REPORT_BOOTSTRAP_WORKERS=1,
                      REPORT_COMPARE_GROUPS=compare)


def held_second_pass(monkeypatch, release: threading.Event, done=10):
    """Hold every second pass after it reported `done` draws, until `release` is set; return the calls."""
    calls = []
    real = inference.second_pass

    def wrapped(entry, frame, info, **kwargs):
        calls.append(threading.current_thread().name)
        kwargs["progress"](done, kwargs["draws"])
        release.wait(30)
        return real(entry, frame, info, **kwargs)

    monkeypatch.setattr(inference, "second_pass", wrapped)
    return calls


def stored(db_session, survey_id):
    db_session.rollback()
    return db_session.scalars(sa.select(ReportSnapshot).where(ReportSnapshot.survey_id == survey_id)).one()


def opened(app, db_session, survey):
    """The report state as a request would get it."""
    with app.app_context():
        return cache.open_report(db_session, survey)


def claim(app, db_session, survey, count=400):
    """Try to take the second-pass claim of the survey's default view, as a worker would."""
    with app.app_context():
        return cache.claim_intervals(db_session, survey.id, cache.view_key(survey, None, None), count)


POOLED = URL + "?wave=all"  # the view these tests follow: all 400 responses (the default view is the latest wave)


def page(client, url=POOLED):
    response = client.get(url + ("&" if "?" in url else "?") + "lang=en")
    return response.status_code, response.get_data(as_text=True)


# ----------------------------------------------------------------------------- background bootstrap


def test_point_estimates_at_once_then_intervals_with_progress(client, manager, demo, app, db_session, monkeypatch):
    second_pass_on(app, draws=40)
    release = threading.Event()
    calls = held_second_pass(monkeypatch, release, done=10)
    status, html = page(client)
    assert status == 200 and 'class="csi-value"' in html  # the point estimates, at once
    for _ in range(200):  # the job has started and written its progress
        if "Intervals being computed: 25%" in page(client)[1]:
            break
        threading.Event().wait(0.05)
    status, html = page(client)
    assert "Intervals being computed: 25%" in html and 'http-equiv="refresh"' in html
    assert "num boot" not in html and 'id="index-boot-ci"' not in html
    release.set()
    assert jobs.drain(120)
    assert calls and calls[0].startswith("csi-job-slow")
    status, html = page(client)
    assert status == 200 and 'http-equiv="refresh"' not in html and "Intervals from 40 bootstrap draws" in html
    state = opened(app, db_session, demo)
    entry = state.entry
    assert entry.phase == "full" and state.intervals is None
    boot = entry.result_obj.bootstrap_draws
    assert boot is not None and boot.draws == 40 and boot.stats.shape[0] == 40 - boot.failed
    # reproducible: the seed is the data version's; the engine with that seed gives the same intervals
    key = cache.view_key(demo, None, None)
    seed = inference.seed_for(demo.id, key, 400)
    assert entry.result["bootstrap"]["seed"] == seed
    frame = services.responses_frame(db_session, demo)
    with silenced():
        again = model.fit(frame, spec=compute.spec_for(compute.survey_info(demo)), scale=(1, 10), estimator="mlr",
                          bootstrap=40, seed=seed, workers=1)
    cs = entry.result["constructs"]["CS"]
    assert cs["index_boot_ci"] == pytest.approx(list(again.to_dict()["constructs"]["CS"]["index_boot_ci"]), abs=1e-9)
    lo, hi = cs["index_boot_ci"]
    assert f"bootstrap 95% interval {lo:.1f}–{hi:.1f}" in html
    for p in entry.result["paths"]:  # every path and impact carries its interval on the page
        assert f"{p['std_boot_ci'][0]:.2f}–{p['std_boot_ci'][1]:.2f}" in html
    for e in entry.result["effects"]:
        assert f"{e['impact_5pt_ci'][0]:.1f}–{e['impact_5pt_ci'][1]:.1f}" in html
    assert all(r["importance_ci"] is not None and 0 <= r["p_top"] <= 1 for r in entry.result["ipma_items"])
    estimates = client.get(URL + "/estimates.csv?wave=all").get_data(as_text=True)
    assert "construct,CS,index_boot_ci_low," in estimates and "path,CS->CL,std_boot_ci_high," in estimates
    assert "effect,PQ->CS,impact_5pt_ci_low," in estimates
    row = stored(db_session, demo.id)
    assert (row.interval_count, row.interval_done, row.interval_total, row.interval_claim_until) == (400, 40, 40, None)


def test_one_second_pass_per_data_version_across_servers(client, manager, demo, app, second_server, db_session,
                                                         monkeypatch):
    second_pass_on(app, draws=20)
    second_server.application.config.update({k: v for k, v in app.config.items() if k.startswith("REPORT_")})
    release = threading.Event()
    calls = held_second_pass(monkeypatch, release)
    assert page(client)[0] == 200
    for _ in range(5):
        assert page(second_server)[0] == 200 and page(client)[0] == 200
    assert not claim(app, db_session, demo)  # the live claim is the running job's
    release.set()
    assert jobs.drain(120)
    assert len(calls) == 1
    assert "Intervals from 20 bootstrap draws" in page(second_server)[1]
    assert not claim(app, db_session, demo)  # done for this data version: not again


def test_a_dead_second_pass_is_taken_over(client, manager, demo, app, db_session, monkeypatch):
    second_pass_on(app, draws=20)
    app.config["REPORT_SECOND_PASS"] = False
    assert page(client)[0] == 200  # a report without a second pass yet
    assert claim(app, db_session, demo)  # a worker claims it, then dies
    app.config["REPORT_SECOND_PASS"] = True
    assert "Intervals being computed: 0%" in page(client)[1]  # the live claim: nobody else starts one
    db_session.execute(sa.update(ReportSnapshot).values(interval_claim_until=utcnow() - timedelta(hours=1)))
    db_session.commit()
    page(client)
    assert jobs.drain(120)
    assert "Intervals from 20 bootstrap draws" in page(client)[1]


def test_a_failed_second_pass_keeps_the_point_estimates(client, manager, demo, app, db_session, monkeypatch):
    second_pass_on(app, draws=20)

    def broken(*args, **kwargs):
        raise RuntimeError("no more draws")

    monkeypatch.setattr(inference, "second_pass", broken)
    page(client)
    assert jobs.drain(60)
    status, html = page(client)
    assert status == 200 and 'class="csi-value"' in html
    assert "The intervals could not be computed: RuntimeError: no more draws" in html
    assert stored(db_session, demo.id).interval_error.startswith("RuntimeError")


def test_the_second_pass_runs_on_the_slow_redis_queue(client, manager, demo, app, redis_queue):
    from rq import Queue, SimpleWorker

    import redis

    second_pass_on(app, draws=20)
    app.config["REPORT_WAIT_SECONDS"] = 0.05
    assert client.get(POOLED).status_code == 202
    connection = redis.Redis.from_url(REDIS)
    fast, slow = Queue(redis_queue, connection=connection), Queue(redis_queue + "-slow", connection=connection)
    with app.app_context():
        SimpleWorker([fast], connection=connection).work(burst=True)  # point estimates only
    assert slow.count == 1
    status, html = page(client)
    assert status == 200 and "Intervals being computed: 0%" in html
    with app.app_context():
        SimpleWorker([fast, slow], connection=connection).work(burst=True)
    assert slow.count == 0
    assert "Intervals from 20 bootstrap draws" in page(client)[1]


# ----------------------------------------------------------------------------- estimator and second opinion


def test_the_manager_chooses_the_estimator_and_it_is_audited(client, manager, demo, app, db_session):
    assert page(client)[1].count('value="mlr" selected') == 1  # robust ML by default
    assert client.get(URL + ".json").json["estimator"] == "mlr"
    response = client.post(URL + "/estimator?wave=2", data={"estimator": "pls"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/report?wave=2")
    db_session.expire_all()
    assert db_session.get(Survey, demo.id).estimator == "pls"
    assert client.get(URL + ".json").json["estimator"] == "pls"
    events = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "report_estimator")).all()
    assert [(e.target, e.detail, e.email) for e in events] == [("demo", "estimator=pls; wave=2", manager.email)]
    response = client.post(URL + "/estimator", data={"estimator": "ols"}, follow_redirects=True)
    assert "Choose one of the listed estimators." in response.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Survey, demo.id).estimator == "pls"


def test_the_estimator_form_needs_a_csrf_token(client, manager, demo, app, db_session):
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(URL + "/estimator", data={"estimator": "pls"}).status_code == 400
    db_session.expire_all()
    assert db_session.get(Survey, demo.id).estimator == "mlr"


def test_the_report_shows_the_other_estimators_second_opinion(client, manager, demo, app, db_session):
    second_pass_on(app, draws=0)
    page(client)
    assert jobs.drain(120)
    status, html = page(client)
    frame = services.responses_frame(db_session, demo)
    spec = compute.spec_for(compute.survey_info(demo))
    with silenced():
        pls = model.fit(frame, spec=spec, scale=(1, 10), estimator="pls")
    assert "Second opinion: PLS path modelling (the ACSI method)" in html
    assert f"{pls.csi:.1f}" in html.split('id="second-opinion"')[1]
    entry = opened(app, db_session, demo).entry
    assert entry.second_opinion["index"] == pytest.approx(pls.csi, abs=1e-9)
    for p in pls.to_dict()["paths"]:
        row = next(r for r in entry.second_opinion["paths"] if (r["from"], r["to"]) == (p["from"], p["to"]))
        assert row["other"] == pytest.approx(p["std_estimate"], abs=1e-9)


def ipma(item, construct, priority):
    return {"item": item, "construct": construct, "priority": priority}


def result_dict(estimator, paths, items, index=70.0):
    return {"estimator": estimator, "constructs": {"CS": {"index": index}},
            "paths": [{"from": a, "to": b, "std_estimate": v} for (a, b), v in paths.items()], "ipma_items": items}


def test_second_opinion_flags_a_different_top_lever_and_a_flipped_sign():
    paths = {("CE", "CS"): 0.12, ("PQ", "CS"): 0.5, ("CC", "CL"): -0.1}
    # expectations rank first in both but are not a lever: the top lever is the best PQ/PV item
    mine = result_dict("mlr", paths, [ipma("CE1", "CE", 1), ipma("PQ2", "PQ", 2), ipma("PV1", "PV", 3)])
    same = result_dict("pls", {**paths, ("PQ", "CS"): 0.4}, [ipma("CE2", "CE", 1), ipma("PQ2", "PQ", 2),
                                                               ipma("PV1", "PV", 3)], index=71.0)
    verdict = inference.second_opinion(mine, same)
    assert verdict["top_lever"] == {"item": "PQ2", "construct": "PQ"} and not verdict["top_differs"]
    assert verdict["agree"] and verdict["sign_flips"] == [] and verdict["index"] == 71.0
    other = result_dict("pls", {**paths, ("CE", "CS"): -0.03, ("CC", "CL"): 0.0},
                        [ipma("PV1", "PV", 1), ipma("PQ2", "PQ", 2)])
    verdict = inference.second_opinion(mine, other)
    assert verdict["top_differs"] and verdict["other_top_lever"]["item"] == "PV1"
    assert verdict["sign_flips"] == ["CE->CS"] and not verdict["agree"]  # 0.0 has no sign to disagree on
    listed = {**other, "improve_first": [{"item": "PQ2", "construct": "PQ"}]}
    assert not inference.second_opinion(mine, listed)["top_differs"]  # the ranking rule's list wins


# ----------------------------------------------------------------------------- the invariance gate


SPEC = model.CSISpec.from_mapping({code: [f"{code}{k}" for k in range(1, n + 1)]
                                   for code, n in make_data.MULTI.items()})


def constructed(seed, bias=None):
    """2 × 300 answers sharing one measurement model; group b is more satisfied (latent shift) and, with
    ``bias``, answers some items higher than its constructs explain (a shifted intercept)."""
    return make_data.groups(seed, [("a", 300, {}), ("b", 300, {"shift": {"CE": 0.3, "CS": 0.2}, "bias": bias})])


def test_invariant_groups_are_compared_with_an_index_and_interval():
    frame = constructed(11)
    fair = inference.fair_comparison(frame, "group", SPEC, (1, 10), 30)
    assert (fair["status"], fair["level"], fair["comparable"], fair["partial"]) == ("compared", "scalar", True, False)
    assert fair["differing_items"] == []
    rows = {g["value"]: g for g in fair["groups"]}
    assert {v: r["n"] for v, r in rows.items()} == {"a": 300, "b": 300}
    for r in rows.values():
        assert r["ci"][0] < r["index"] < r["ci"][1]
    assert rows["b"]["index"] > rows["a"]["index"]  # b's latent shift, on the shared yardstick


def test_a_shifted_intercept_makes_groups_not_comparable_and_names_the_item():
    # PV has two items: freeing PV1's intercept would leave one, so no partial invariance can rescue it
    frame = constructed(11, bias={"PV1": 2.0})
    fair = inference.fair_comparison(frame, "group", SPEC, (1, 10), 30)
    assert fair["status"] == "compared" and fair["level"] == "metric" and not fair["comparable"]
    # with two items the shift of PV1 against PV2 is also one of PV2 against PV1: the pair is named
    assert "PV1" in fair["differing_items"] and set(fair["differing_items"]) <= {"PV1", "PV2"}
    assert all(g["index"] is None and g["ci"] is None for g in fair["groups"])


def test_a_shifted_intercept_left_free_gives_partial_scalar_invariance():
    frame = constructed(11, bias={"CS1": 1.5})
    fair = inference.fair_comparison(frame, "group", SPEC, (1, 10), 30)
    assert fair["level"] == "metric" and fair["comparable"] and fair["partial"]
    assert fair["differing_items"] == ["CS1"]


def test_small_groups_are_left_out_and_named():
    frame = constructed(11)
    frame.loc[frame.index[:20], "group"] = "c"
    fair = inference.fair_comparison(frame, "group", SPEC, (1, 10), 30)
    assert fair["small"] == ["c"] and fair["status"] == "compared"
    frame["group"] = np.where(frame.index < 580, "a", "b")
    assert inference.fair_comparison(frame, "group", SPEC, (1, 10), 30)["status"] == "too_few"


def gate_survey(db_session, frame):
    """A survey from the template whose key-account answers are the constructed groups (a → no, b → yes)."""
    survey = services.create_survey(db_session, slug="gate", title_en="Gate", title_zh="门")
    rows = []
    for record in frame.drop(columns=["CC2"]).rename(columns={"group": "key_account"}).to_dict("records"):
        record["key_account"] = {"a": "no", "b": "yes"}[record["key_account"]]
        record.update(complained="no", locale="en")
        rows.append({k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in record.items()})
    services.record_responses_bulk(db_session, survey, rows, wave=1, source="demo")
    return survey


def test_the_page_shows_group_indices_only_where_invariance_holds(client, manager, app, db_session):
    second_pass_on(app, draws=0, compare=True)
    gate_survey(db_session, constructed(11, bias={"PV1": 2.0}))
    url = "/manage/surveys/gate/report"
    status, html = page(client, url)
    assert status == 200 and "Comparability is being checked" in html
    assert jobs.drain(300)
    status, html = page(client, url)
    block = html.split('data-segment="key_account"')[1].split("</figure>")[0]
    assert 'data-comparable="no"' in block and "Not comparable: metric invariance only" in block
    assert "PV1 (" in block and "<table" not in block  # which item differs; no index per group
    assert "<svg" not in block


def test_comparable_groups_are_listed_in_questionnaire_and_wave_order(say):
    from survey.report import present

    info = {"questions": [{"code": "tenure", "text_en": "T", "text_zh": "T", "options": [
        {"value": "lt1", "en": "Under a year", "zh": "不到1年"}, {"value": "1to3", "en": "1 to 3 years", "zh": "1至3年"}]}]}
    rows = [{"value": "1to3", "n": 50, "index": 70.0, "ci": [68.0, 72.0]},
            {"value": "lt1", "n": 40, "index": 71.0, "ci": [69.0, 73.0]}]
    comparison = {"status": "compared", "comparable": True, "level": "scalar", "partial": False,
                  "differing_items": [], "small": [], "min_n": 36, "groups": rows}
    waves = {**comparison, "groups": [{**rows[0], "value": "10"}, {**rows[1], "value": "9"}]}
    entry = {"comparisons": {"segments": {"tenure": comparison}, "waves": waves}, "phase": "full"}
    ctx = say(present.trust_context, entry, info, {}, locale="zh_CN")
    assert [g["label"] for g in ctx["segment_fairness"]["tenure"]["groups"]] == ["不到1年", "1至3年"]
    assert [g["label"] for g in ctx["wave_fairness"]["groups"]] == ["第 9 期", "第 10 期"]  # 9 before 10
    assert ctx["segment_fairness"]["tenure"]["lines"][0].startswith("可以比较")
