"""Response quality: the flag rules on constructed cases, and the evidence a web submission stores (both
databases): signed form duration (forged or missing: unknown, never refused), hashed device and client ids, none
for the API."""
import re
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from survey import services
from survey.services import apikeys, quality
from survey.services.snapshot import Item
from survey.storage.tables import Response

BLOCKS = {"CE": 3, "PQ": 3, "PV": 2, "CS": 3}
ITEMS = [Item(i, f"{c}{k}", "scale", c, True, True, None, ()) for i, (c, k) in enumerate(
    ((c, k) for c, n in BLOCKS.items() for k in range(1, n + 1)), start=1)]
CODES = [item.code for item in ITEMS]  # CE1..CE3 PQ1..PQ3 PV1 PV2 CS1..CS3: 11 scale items
START = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def frame_of(answer_rows, *, durations=None, waves=None, minutes=None):
    """A responses frame with the given scale answers (None = not rated), one row per list of 11 answers."""
    n = len(answer_rows)
    frame = pd.DataFrame([[np.nan if v is None else float(v) for v in row] for row in answer_rows], columns=CODES)
    frame.insert(0, "response_id", np.arange(1, n + 1))
    frame.insert(1, "created_at", [START + timedelta(minutes=m) for m in (minutes or range(n))])
    frame.insert(2, "wave", waves or [1] * n)
    frame.insert(3, "duration_ms", np.nan if durations is None else np.asarray(durations, dtype=float))
    return frame


VARIED = [3, 5, 7, 8, 6, 9, 4, 6, 7, 8, 5]


def straight(rows):
    return quality.straight_lined(frame_of(rows), quality.construct_blocks(ITEMS), CODES).tolist()


def test_straight_lining_rule_on_constructed_cases():
    cases = [
        ([7] * 11, True),  # one answer everywhere
        ([8, 8, 8, 9, 9, 9, 5, 6, 10, 10, 10], True),  # each 3-item block uniform, values differ between blocks
        ([8, 8, 8, 3, 5, 9, 5, 6, 7, 9, 2], False),  # one uniform block is what attentive customers do
        ([8, 8, None, 9, 9, 9, 5, 6, 3, 3, 3], True),  # CE has 2 rated items: it does not count; PQ, CS uniform
        ([None, None, None, 9, 9, 9, 5, 6, 3, 4, 3], False),  # only PQ counts and is uniform: fewer than 2 blocks
        ([None, None, None, 9, 9, 9, 9, 9, None, None, None], False),  # 5 rated, all 9: too few for zero variance
        ([None, None, None, 9, 9, 9, 9, 9, 9, None, None], True),  # 6 rated, all 9: zero variance
        ([None] * 11, False),  # nothing rated
        (VARIED, False),
    ]
    assert straight([row for row, _ in cases]) == [expected for _, expected in cases]


def speeder_flags(durations):
    frame = frame_of([VARIED] * len(durations), durations=durations)
    return quality.speeders(frame["duration_ms"])


def test_speeders_need_100_timed_responses_and_are_under_a_third_of_the_median():
    # 99 timed responses (median 300 s) and one untimed: the rule does not judge yet
    flags = speeder_flags([300_000] * 97 + [10_000, 99_000] + [None])
    assert flags.sum() == 0 and quality.speeder_threshold_ms(pd.Series([300_000.0] * 97 + [1e4, 99e3])) is None
    # the 100th timed response: median 300 s, cut-off 100 s; 10 s and 99.9 s are speeders, 100.1 s is not
    durations = [300_000] * 96 + [10_000, 99_900, 100_100, 100_000] + [None]
    flags = speeder_flags(durations)
    assert quality.speeder_threshold_ms(pd.Series(durations, dtype=float)) == pytest.approx(100_000)
    assert flags.tolist() == [False] * 96 + [True, True, False, False, False]  # 100 s itself is not below


def test_the_median_not_the_mean_sets_the_speeder_cut_off():
    # a few tabs left open for hours raise the mean tenfold but not the median
    durations = [240_000] * 95 + [36_000_000] * 5 + [70_000, 90_000]
    flags = speeder_flags(durations)
    assert quality.speeder_threshold_ms(pd.Series(durations, dtype=float)) == pytest.approx(80_000)
    assert flags.tolist() == [False] * 100 + [True, False]


def test_repeats_same_cookie_in_a_wave_and_same_address_within_30_minutes():
    frame = frame_of([VARIED] * 7, waves=[1, 1, 1, 2, 1, 1, 1], minutes=[0, 5, 10, 20, 100, 129, 200])
    device = ["a", "b", "a", "a", None, None, "b"]
    client = ["x", "y", "z", "x", "w", "w", "y"]
    assert quality.repeats(frame, device, client).tolist() == [
        False,  # first of cookie a
        False,  # first of cookie b
        True,  # cookie a again in wave 1 (its address differs: a new network, same browser)
        False,  # cookie a in wave 2: answering the next wave is not a repeat
        False,  # first of address w
        True,  # address+browser w again 29 minutes later
        True,  # cookie b again, 195 minutes after its first: the cookie has no window
    ]
    later = frame_of([VARIED] * 2, minutes=[0, 31])
    assert quality.repeats(later, [None, None], ["w", "w"]).tolist() == [False, False]  # 31 min: colleagues


def test_flag_columns_and_names_for_exports():
    frame = frame_of([[7] * 11, VARIED, VARIED], minutes=[0, 1, 2])
    flags = quality.flag_responses(frame, ITEMS, ["d", "d", None], [None, None, None])
    assert list(flags.columns) == list(quality.FLAG_COLUMNS)
    assert quality.flag_names(pd.concat([frame, flags], axis=1)).tolist() == ["straight_lining", "repeat", ""]


def test_render_token_gives_the_duration_and_forgeries_give_none():
    now = 1_780_000_000_000
    token = quality.render_token("secret", "csi", now - 42_500)
    assert quality.form_duration_ms("secret", "csi", token, now) == 42_500
    forged = quality.render_token("not-the-secret", "csi", now - 3_600_000)
    head, _, signature = token.rpartition(".")
    tampered = quality.render_token("secret", "csi", now - 600_000).rpartition(".")[0] + "." + signature
    for bad in (None, "", "garbage", forged, tampered, token + "x"):
        assert quality.form_duration_ms("secret", "csi", bad, now) is None
    assert quality.form_duration_ms("secret", "other-survey", token, now) is None  # signed for another form
    assert quality.form_duration_ms("secret", "csi", quality.render_token("secret", "csi", now + 5_000), now) is None
    week = quality.MAX_DURATION_MS
    assert quality.form_duration_ms("secret", "csi", quality.render_token("secret", "csi", now - week), now) == week
    assert quality.form_duration_ms("secret", "csi", quality.render_token("secret", "csi", now - week - 1), now) \
        is None


def test_evidence_stores_keyed_hashes_never_the_raw_values():
    cookie = quality.new_device_id()
    one = quality.evidence("secret", "csi", token=None, device_id=cookie, address="203.0.113.9",
                           user_agent="Firefox/140")
    assert one["duration_ms"] is None
    assert re.fullmatch(r"[0-9a-f]{32}", one["device_hash"]) and re.fullmatch(r"[0-9a-f]{32}", one["client_hash"])
    assert cookie not in one["device_hash"] and "203.0.113.9" not in one["client_hash"]
    again = quality.evidence("secret", "csi", token=None, device_id=cookie, address="203.0.113.9",
                             user_agent="Firefox/140")
    other_survey = quality.evidence("secret", "other", token=None, device_id=cookie, address="203.0.113.9",
                                    user_agent="Firefox/140")
    assert again == one and other_survey["device_hash"] != one["device_hash"]
    assert other_survey["client_hash"] != one["client_hash"]
    assert quality.evidence("secret", "csi", token=None, device_id="<script>", address=None,
                            user_agent=None) == dict(quality.NO_EVIDENCE)


# --- stored with the response, both databases ----------------------------------------------------------------

def stored_rows(db_session):
    db_session.expire_all()
    return db_session.execute(sa.select(Response.duration_ms, Response.device_hash, Response.client_hash)
                              .order_by(Response.id)).all()


def test_the_form_sets_a_device_cookie_and_a_signed_render_time(app, client, demo_survey):
    page = client.get("/s/csi")
    html = page.get_data(as_text=True)
    rendered = re.search(r'name="rendered" value="([^"]+)"', html).group(1)
    cookie = client.get_cookie(quality.DEVICE_COOKIE, path="/s/")
    assert quality.valid_device_id(cookie.value) and cookie.http_only and cookie.path == "/s/"
    assert quality.form_duration_ms(app.secret_key, "csi", rendered) is not None
    again = client.get("/s/csi")
    assert not [c for c in again.headers.getlist("Set-Cookie") if c.startswith(quality.DEVICE_COOKIE + "=")]
    assert client.get_cookie(quality.DEVICE_COOKIE, path="/s/").value == cookie.value  # kept, not renewed


def test_web_submission_stores_duration_and_hashes_in_its_insert(app, client, db_session, demo_survey,
                                                                 valid_answers):
    client.get("/s/csi")
    cookie = client.get_cookie(quality.DEVICE_COOKIE, path="/s/").value
    token = quality.render_token(app.secret_key, "csi", int(time.time() * 1000) - 42_000)
    response = client.post("/s/csi", data={**valid_answers(), "rendered": token},
                           headers={"User-Agent": "Firefox/140"})
    assert response.status_code == 302
    [(duration, device, client_hash)] = stored_rows(db_session)
    assert 42_000 <= duration < 42_000 + 30_000
    assert device == quality.evidence(app.secret_key, "csi", token=None, device_id=cookie, address="127.0.0.1",
                                      user_agent="Firefox/140")["device_hash"]
    assert re.fullmatch(r"[0-9a-f]{32}", client_hash)


def test_forged_or_missing_render_time_is_stored_as_unknown_not_refused(app, client, db_session, demo_survey,
                                                                      valid_answers):
    forged = quality.render_token("guessed-secret", "csi", int(time.time() * 1000) - 3_600_000)
    for data in ({**valid_answers(), "rendered": forged}, {**valid_answers(), "rendered": "1.2.3"},
                 valid_answers()):
        assert client.post("/s/csi", data=data).status_code == 302
    rows = stored_rows(db_session)
    assert len(rows) == 3 and [r[0] for r in rows] == [None, None, None]


def test_a_form_shown_again_keeps_the_first_render_time(app, client, db_session, demo_survey, valid_answers):
    token = quality.render_token(app.secret_key, "csi", int(time.time() * 1000) - 60_000)
    page = client.post("/s/csi", data={**valid_answers(CE2=None), "rendered": token})
    assert page.status_code == 422 and f'name="rendered" value="{token}"' in page.get_data(as_text=True)


def test_api_submissions_have_no_duration_or_device(client, db_session, demo_survey):
    key = apikeys.issue_key(db_session, apikeys.SUBMIT, survey=demo_survey, label="kiosk")
    codes = ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3", "CC1", "CL1", "CL2")
    body = {"locale": "en", "answers": {**dict.fromkeys(codes, 6), "complained": "no"}}
    url, headers = "/api/v1/surveys/csi/responses", {"Authorization": f"Bearer {key}"}
    claimed = {**body, "answers": {**body["answers"], "rendered": quality.render_token("x", "csi")}}
    assert client.post(url, json=claimed, headers=headers).status_code == 422  # no render time through the API
    res = client.post(url, json=body, headers=headers)
    assert res.status_code == 201, res.json
    assert stored_rows(db_session) == [(None, None, None)]


def test_the_same_browser_answering_twice_is_flagged_once(client, db_session, demo_survey, valid_answers):
    client.get("/s/csi")
    for value in ("7", "8"):
        assert client.post("/s/csi", data=valid_answers(CE1=value, PQ2="3")).status_code == 302
    client.delete_cookie(quality.DEVICE_COOKIE, path="/s/")
    client.get("/s/csi")  # a new cookie, same address and browser at once: still a repeat
    assert client.post("/s/csi", data=valid_answers(CE1="9", PQ2="3")).status_code == 302
    frame = services.responses_frame(db_session, demo_survey)
    assert frame["flag_repeat"].tolist() == [False, True, True]
    assert frame["flag_straight_lining"].tolist() == [False, False, False]


def test_speeder_flags_in_the_frame_start_at_100_timed_responses(db_session, demo_survey, valid_answers):
    rows = [valid_answers(CE1=str(1 + i % 10), PQ1=str(1 + (i * 3) % 10)) for i in range(101)]
    services.record_responses_bulk(db_session, demo_survey, rows)
    ids = db_session.scalars(sa.select(Response.id).order_by(Response.id)).all()

    def timed(durations):
        for rid, ms in zip(ids, durations):
            db_session.execute(sa.update(Response).where(Response.id == rid).values(duration_ms=ms))
        db_session.commit()
        return services.responses_frame(db_session, demo_survey)["flag_speeder"]

    # 99 timed (one fast), two untimed (imports): no speeders yet
    assert timed([200_000] * 98 + [20_000, None, None]).sum() == 0
    # the 100th timed response arrives: median 200 s, the 20 s one is a speeder
    flags = timed([200_000] * 98 + [20_000, 190_000, None])
    assert flags.tolist() == [False] * 98 + [True, False, False]
