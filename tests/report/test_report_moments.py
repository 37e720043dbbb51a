"""In-database sufficient statistics on both databases: cells kept incrementally equal cells rebuilt from the rows,
and the figures and estimates from the cells equal those from the rows (survey.report.moments)."""
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import model
from survey import services
from survey.report import compute, figures as rs, moments
from survey.services.demo import simulate
from survey.services.reading import responses_frame
from survey.storage.tables import MomentsState, Response, ResponseMoments

URL = "/manage/surveys/demo/report"


def _setup(db_session, survey):
    info = compute.survey_info(survey)
    spec = compute.spec_for(info)
    return info, spec, moments.layout_for(info, spec)


def _stored(db_session, survey_id):
    """Every stored cell as {(wave_id, segment, pattern): vector}."""
    t = ResponseMoments
    return {(w, s, p): np.frombuffer(d, dtype=np.float64)
            for w, s, p, d in db_session.execute(sa.select(t.wave_id, t.segment, t.pattern, t.data)
                                                 .where(t.survey_id == survey_id))}


def _add(db_session, survey, n, seed, wave=2):
    rows = simulate(survey, n, np.random.default_rng(seed))
    services.record_responses_bulk(db_session, survey, rows, wave=wave, source="test")


def test_cells_hold_the_exact_sums_and_cross_products_of_the_rows(demo, db_session):
    info, spec, layout = _setup(db_session, demo)
    done = moments.update(db_session, demo, info, spec)
    assert done["read"] == 400 and done["rebuilt"] is False
    frame = responses_frame(db_session, demo)
    every, segments = moments.load_all(db_session, demo.id, done["basis"], layout)
    wave_ids = {w.number: w.id for w in demo.waves}
    for number, wave_id in wave_ids.items():
        rows = frame[frame["wave"] == number]
        values = rows[list(layout.items)].to_numpy(dtype=float)
        filled = np.nan_to_num(values)
        cells = every.of_wave(wave_id)
        assert cells.count == len(rows)
        assert np.array_equal(cells.sums.sum(axis=0), filled.sum(axis=0))  # integers: exact, not close
        assert np.array_equal(cells.cross().sum(axis=0), filled.T @ filled)
        assert np.all(np.isinf(cells.low[~cells.masks])) and np.all(cells.low[cells.masks] >= 1)
        assert np.all(cells.high[cells.masks] <= 10)
        # one cell per answer pattern present
        patterns = {"".join("1" if a else "0" for a in row) for row in ~np.isnan(values)}
        assert {"".join("1" if m else "0" for m in mask) for mask in cells.masks} == patterns
        # the statistics the model reads are those of the rows
        assert moments.to_stats(cells) == model.SufficientStats.from_values(values, layout.items)
    assert moments.to_stats(every) == model.SufficientStats.from_values(
        frame[list(layout.items)].to_numpy(dtype=float), layout.items)
    # segment cells split the same responses by their answer
    for code, options in layout.segments:
        assert sum(c.count for c in segments[code].values()) == frame[code].notna().sum()
        for value, cells in segments[code].items():
            assert value in options
            assert cells.count == (frame[code] == value).sum()


def test_levels_complaints_intent_and_segment_scores_from_cells_equal_the_rows(demo, db_session):
    info, spec, layout = _setup(db_session, demo)
    done = moments.update(db_session, demo, info, spec)
    every, segments = moments.load_all(db_session, demo.id, done["basis"], layout)
    frame = responses_frame(db_session, demo)
    wave_ids = {w.number: w.id for w in demo.waves}
    rng = np.random.default_rng(3)
    for number in (None, *wave_ids):
        view = frame if number is None else frame[frame["wave"] == number]
        cells = every.of_wave(None if number is None else wave_ids[number])
        levels = rs.satisfaction_level_per_row(view, spec.items["CE"], spec.items["PQ"])
        assert moments.satisfaction_levels(cells) == rs.satisfaction_levels(levels)
        _same(moments.complaints(cells), rs.complaints(view, levels, layout.scale))
        _same(moments.intent(cells), rs.intent(view, spec.items["CL"], layout.scale))
        # a construct's score with arbitrary weights, answered items renormalized (model.respondent_scores)
        for construct in ("CS", "PQ", "CL"):
            items = list(spec.items[construct])
            weights = rng.uniform(0.1, 1.0, size=len(items))
            values = view[items].to_numpy(dtype=float)
            answered = ~np.isnan(values)
            with np.errstate(invalid="ignore"):
                per_row = np.nan_to_num(values) @ weights / (answered @ weights)
            expected = model.scores.mean_ci(model.scores.to_index(per_row, layout.scale))
            got = moments.score_summary(cells, items, weights)
            assert got[0] == expected[0]
            assert got[1] == pytest.approx(expected[1], rel=1e-12)
            assert got[2] == pytest.approx(expected[2], rel=1e-12)
    for value, cells in segments["region"].items():
        part = frame[frame["region"] == value]
        assert moments.satisfaction_levels(cells) == rs.satisfaction_levels(
            rs.satisfaction_level_per_row(part, spec.items["CE"], spec.items["PQ"]))


def _same(a, b):
    """Equal dicts/lists with floats compared to 1e-12 (a sum divided vs a mean of the same numbers)."""
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12)
    else:
        assert a == b


def test_incremental_updates_equal_a_rebuild_and_read_only_new_responses(demo, db_session):
    info, spec, layout = _setup(db_session, demo)
    moments.update(db_session, demo, info, spec)
    _add(db_session, demo, 37, seed=11)
    done = moments.update(db_session, demo, info, spec)
    assert done["read"] == 37  # only the new responses were read
    assert moments.update(db_session, demo, info, spec)["read"] == 0
    _add(db_session, demo, 5, seed=12, wave=1)
    assert moments.update(db_session, demo, info, spec)["read"] == 5
    incremental = _stored(db_session, demo.id)
    db_session.execute(sa.delete(ResponseMoments))
    db_session.execute(sa.delete(MomentsState))
    db_session.commit()
    rebuilt = moments.update(db_session, demo, info, spec, block=97)  # in several blocks
    assert rebuilt["read"] == 442
    fresh = _stored(db_session, demo.id)
    assert set(fresh) == set(incremental)
    for key in fresh:
        assert np.array_equal(fresh[key], incremental[key]), key


def test_a_questionnaire_edit_or_an_erasure_rebuilds_the_cells(demo, db_session):
    info, spec, layout = _setup(db_session, demo)
    first = moments.update(db_session, demo, info, spec)
    victim = db_session.scalar(sa.select(Response.id).where(Response.survey_id == demo.id).limit(1))
    services.erase_response(db_session, demo, victim, demo.erasures)
    # the erased answers are gone from the sums at once, before any rebuild
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ResponseMoments)) == 0
    info = compute.survey_info(demo)
    again = moments.update(db_session, demo, info, spec)
    assert again["basis"] != first["basis"] and again["read"] == 399


@pytest.mark.parametrize("app", ["postgresql"], indirect=True)
def test_a_response_committed_late_below_the_mark_is_counted_next_time(demo, db_session, app):
    """PostgreSQL hands out ids before commit: a transaction in flight while the mark moves past its id leaves a
    gap that the next update looks at again."""
    info, spec, layout = _setup(db_session, demo)
    moments.update(db_session, demo, info, spec)
    late = db_session.get_bind().connect()
    trans = late.begin()
    wave_id = demo.current_wave.id
    late_id = late.execute(sa.insert(Response).values(survey_id=demo.id, wave_id=wave_id, locale="en",
                                                      source="test", packed=b"", complete=True)
                           .returning(Response.id)).scalar_one()
    _add(db_session, demo, 3, seed=5)  # committed, with higher ids
    assert moments.update(db_session, demo, info, spec)["read"] == 3
    state = db_session.scalar(sa.select(MomentsState))
    assert state.last_id > late_id and str(late_id) in state.gaps
    trans.commit()
    late.close()
    assert moments.update(db_session, demo, info, spec)["read"] == 1
    assert str(late_id) not in db_session.scalar(sa.select(MomentsState.gaps))


# --- the report from the cells ------------------------------------------------------------------------------

def _close(a, b, path="", rel=1e-6, abs_=1e-7):
    """Recursively equal JSON-like data, floats to rel/abs tolerance; returns the paths that differ."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        for k in a:
            out += _close(a[k], b[k], f"{path}.{k}", rel, abs_)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        for i, (x, y) in enumerate(zip(a, b)):
            out += _close(x, y, f"{path}[{i}]", rel, abs_)
    elif isinstance(a, float) and isinstance(b, float):
        if not (np.isnan(a) and np.isnan(b)) and abs(a - b) > abs_ + rel * abs(b):
            out.append(f"{path}: {a!r} != {b!r}")
    elif a != b:
        out.append(f"{path}: {a!r} != {b!r}")
    return out


FIGURES = ("n", "n_all_waves", "wave", "segment", "state", "result", "waves", "change", "levels", "complaints",
           "intent", "segments")


def _entry(app, db_session, survey):
    """The report entry the all-waves view now shows."""
    from survey.report import cache

    with app.app_context():
        return cache.open_report(db_session, survey, None, None).entry


def _from_cells(db_session, survey, info, wave, segment):
    spec = compute.spec_for(info)
    layout = moments.layout_for(info, spec)
    done = moments.update(db_session, survey, info, spec)
    every, segments = moments.load_all(db_session, survey.id, done["basis"], layout)
    wave_ids = {w.number: w.id for w in survey.waves}
    comments = services.reading.recent_comments_frame(db_session, survey, 1000)
    return compute.compute_from_moments(every, segments, info, wave=wave, wave_ids=wave_ids, segment=segment,
                                        comments=comments)


@pytest.mark.parametrize("estimator", ["ml", "pls"])
def test_every_figure_from_the_cells_equals_the_rows(demo, db_session, estimator):
    info = {**compute.survey_info(demo), "estimator": estimator}
    for wave, segment in ((None, None), (1, None), (2, None), (None, ("region", "north")), (2, ("channel", "online"))):
        entry = _from_cells(db_session, demo, info, wave, segment)
        rows = compute.compute_report(responses_frame(db_session, demo, None, segment), info, wave=wave,
                                      segment=segment)
        assert entry.source == "moments" and rows.source == "rows"
        a, b = compute.thaw({k: entry[k] for k in FIGURES}), compute.thaw({k: rows[k] for k in FIGURES})
        if segment is not None:  # the other segment questions within a segment need the rows (second pass)
            assert a["segments"] == {} and b["segments"]
            a.pop("segments"), b.pop("segments")
        assert a["result"]["estimator"] == estimator
        a["result"].pop("seconds", None), b["result"].pop("seconds", None)
        assert _close(a, b) == [], (wave, segment)
        # the comments: the same newest ones with the same scores and bands
        for band in entry.comments:
            got = [(c["id"], c["band"], round(c["score"], 9)) for c in entry.comments[band]]
            want = [(c["id"], c["band"], round(c["score"], 9)) for c in rows.comments[band]]
            assert got == want, band


def test_a_large_survey_opens_from_moments_and_refreshes_from_the_new_responses_only(client, manager, demo, app,
                                                                                     db_session):
    from survey.report import cache

    app.config["REPORT_MOMENTS_MIN_RESPONSES"] = 300  # "large": the demo's 400 responses
    assert client.get(URL + "?wave=all").status_code == 200
    entry = _entry(app, db_session, demo)
    assert entry.source == "moments" and entry.n == 400
    _add(db_session, demo, 3, seed=21)
    mark = db_session.scalar(sa.select(MomentsState.last_id))
    page = client.get(URL + "?wave=all&lang=en").get_data(as_text=True)
    assert "Report on 403 responses" in page
    db_session.expire_all()
    assert db_session.scalar(sa.select(MomentsState.last_id)) > mark
    # the refresh started its fit from the last report (a warm start): the same numbers as a cold fit
    refreshed = _entry(app, db_session, demo)
    cold = _from_cells(db_session, demo, compute.survey_info(demo), None, None)
    a, b = compute.thaw(refreshed.result), compute.thaw(cold.result)
    a.pop("seconds", None), b.pop("seconds", None)
    assert refreshed.n == cold.n == 403 and _close(a, b, rel=1e-6, abs_=1e-8) == []
    # below the threshold the rows are read, as before
    app.config["REPORT_MOMENTS_MIN_RESPONSES"] = 10_000
    cache.CACHE.clear()
    _add(db_session, demo, 1, seed=22)
    client.get(URL + "?wave=all")
    assert _entry(app, db_session, demo).source == "rows"


def test_the_second_pass_of_a_moments_report_adds_robust_errors_and_response_quality(client, manager, demo, app,
                                                                                     db_session):
    from survey import jobs
    from survey.report import cache

    app.config.update(REPORT_MOMENTS_MIN_RESPONSES=0, REPORT_BOOTSTRAP_DRAWS=0, REPORT_COMPARE_GROUPS=False)
    client.get(URL + "?wave=all")
    first = _entry(app, db_session, demo)  # the point estimates, before any second pass
    assert first.source == "moments" and first.result["estimator"] == "ml"
    assert first.response_quality is None
    app.config["REPORT_SECOND_PASS"] = True
    client.get(URL + "?wave=all")  # starts the second pass of the stored report
    assert jobs.drain(120)
    cache.CACHE.clear()
    full = _entry(app, db_session, demo)
    assert full.phase == "full" and full.result["estimator"] == "mlr"
    rows = model.fit(responses_frame(db_session, demo), spec=compute.spec_for(compute.survey_info(demo)),
                     scale=(1, 10), estimator="mlr").to_dict()
    assert _close(compute.thaw(full.result)["paths"], rows["paths"]) == []
    assert full.response_quality["n"] == 400 and "with_flagged" in full.response_quality


def test_the_moments_command_builds_the_cells_of_large_surveys(app, demo, runner, db_session):
    app.config["REPORT_MOMENTS_MIN_RESPONSES"] = 500  # the demo (400) is small: nothing to do
    assert runner.invoke(args=["moments"]).output == ""
    app.config["REPORT_MOMENTS_MIN_RESPONSES"] = 300
    result = runner.invoke(args=["moments"])
    assert result.exit_code == 0 and result.output == "demo: 400 responses read\n"
    assert runner.invoke(args=["moments", "--survey", "demo"]).output == "demo: 0 responses read\n"
    missing = runner.invoke(args=["moments", "--survey", "nope"])
    assert missing.exit_code == 2 and "error: no survey nope" in missing.output
