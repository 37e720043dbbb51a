"""Services: validation, one-transaction writes, tokens, bulk inserts and the pandas frame (both databases)."""
import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from survey import services
from survey.storage.tables import Answer, InvitationToken, Response



def count(session, table=Response):
    return session.scalar(sa.select(sa.func.count()).select_from(table))


MODEL_ITEMS = ("CE1", "CE2", "CE3", "PQ1", "PQ2", "PQ3", "PV1", "PV2", "CS1", "CS2", "CS3", "CC1", "CL1", "CL2")


def test_template_has_the_contract_codes(demo_survey):
    codes = [q.code for q in demo_survey.active_questions]
    assert [c for c in codes if c[:2].isupper()] == list(MODEL_ITEMS)
    for code in MODEL_ITEMS + ("complained", "complaint_handling", "complaint_cause", "customer_type",
                               "key_account", "customer_status", "region", "channel", "tenure", "comment"):
        assert code in codes
    constructs = {q.code: q.construct for q in demo_survey.active_questions}
    assert constructs["CC1"] == "CC" and constructs["complained"] is None and constructs["CL2"] == "CL"
    scale = [q for q in demo_survey.active_questions if q.kind == "scale"]
    assert all(q.allow_dont_know and q.low_en and q.high_zh for q in scale)
    assert all(q.text_zh and q.text_en != q.text_zh for q in demo_survey.active_questions)


def test_record_response_stores_answers_in_one_commit(db_session, demo_survey, valid_answers):
    data = valid_answers(CE1="dk", CS1=10, complained="yes", complaint_handling="3",
                         complaint_cause=["quality", "employee"], comment="  slow delivery ")
    response = services.record_response(db_session, demo_survey, data, locale="zh_CN")
    assert response.id is not None and response.locale == "zh_CN" and response.source == "web"
    db_session.expire_all()
    stored = {a.question.code: (a.value, a.text) for a in db_session.scalars(sa.select(Answer))}
    assert stored["CE1"] == (None, None)
    assert stored["CS1"] == (10, None)
    assert stored["complaint_cause"] == (None, "quality;employee")
    assert stored["comment"] == (None, "slow delivery")
    assert stored["complaint_handling"] == (3, None)
    assert count(db_session) == 1


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"CE1": None}, "CE1", "required"),
    ({"PQ2": "11"}, "PQ2", "out_of_range"),
    ({"PQ2": "0"}, "PQ2", "out_of_range"),
    ({"PV1": "seven"}, "PV1", "not_a_number"),
    ({"region": "mars"}, "region", "invalid_choice"),
    ({"complained": None}, "complained", "required"),
    ({"complained": "yes"}, "complaint_cause", "required"),
    ({"complained": "yes", "complaint_cause": ["quality", "bribes"]}, "complaint_cause", "invalid_choice"),
    ({"comment": "x" * 5001}, "comment", "too_long"),
])
def test_invalid_submission_stores_nothing(db_session, demo_survey, valid_answers, change, field, code):
    with pytest.raises(services.InvalidResponse) as info:
        services.record_response(db_session, demo_survey, valid_answers(**change))
    assert info.value.codes[field] == code
    assert info.value.errors[field]  # a readable message
    assert count(db_session) == 0 and count(db_session, Answer) == 0


def test_complaint_follow_ups_without_complaint(db_session, demo_survey, valid_answers):
    # a handling score beside "no, I did not complain" is a contradiction: refused, nothing stored
    with pytest.raises(services.InvalidResponse) as err:
        services.record_response(
            db_session, demo_survey, valid_answers(complained="no", complaint_handling="2", complaint_cause="quality"))
    assert err.value.codes == {"complaint_handling": "not_applicable", "complaint_cause": "not_applicable"}
    assert count(db_session) == 0
    # "don't know" there says nothing: accepted, and the follow-up is not stored
    response = services.record_response(db_session, demo_survey, valid_answers(complained="no", complaint_handling="dk"))
    codes = {a.question.code for a in db_session.scalars(sa.select(Answer).where(Answer.response_id == response.id))}
    assert "complaint_handling" not in codes and "complaint_cause" not in codes


def test_closed_survey_refuses(db_session, demo_survey, valid_answers):
    services.set_status(db_session, demo_survey, "closed")
    with pytest.raises(services.SurveyClosed):
        services.record_response(db_session, demo_survey, valid_answers())
    assert count(db_session) == 0


def test_token_allows_exactly_one_response(db_session, demo_survey, valid_answers):
    token, = services.generate_tokens(db_session, demo_survey, 1)
    services.record_response(db_session, demo_survey, valid_answers(), token=token)
    with pytest.raises(services.TokenUsed):
        services.record_response(db_session, demo_survey, valid_answers(), token=token)
    with pytest.raises(services.TokenUnknown):
        services.record_response(db_session, demo_survey, valid_answers(), token="nope")
    assert count(db_session) == 1
    assert db_session.scalar(sa.select(InvitationToken.used_at)) is not None


def test_bulk_insert_and_frame(db_session, demo_survey, valid_answers):
    rows = [valid_answers(CE1=str(1 + i % 10), CS1=None if i == 3 else 5, region="south" if i % 2 else "east")
            for i in range(20)]
    rows[3]["CS1"] = "dk"
    assert services.record_responses_bulk(db_session, demo_survey, rows, source="import") == 20
    services.new_wave(db_session, demo_survey, "second")
    services.record_response(db_session, demo_survey, valid_answers(CE1="2", complained="yes",
                                                                    complaint_handling="dk",
                                                                    complaint_cause=["systems"]))
    frame = services.responses_frame(db_session, demo_survey)
    assert len(frame) == 21
    assert list(frame.columns[:5]) == ["response_id", "created_at", "wave", "locale", "source"]
    assert frame["CE1"].dtype == "float64" and frame["CE1"].iloc[:20].tolist() == [1 + i % 10 for i in range(20)]
    assert math.isnan(frame["CS1"].iloc[3]) and frame["CS1"].iloc[4] == 5
    assert frame["wave"].tolist() == [1] * 20 + [2]
    assert frame["complaint_cause"].iloc[20] == "systems" and frame["complaint_cause"].iloc[0] is None
    assert math.isnan(frame["complaint_handling"].iloc[20])
    assert str(frame["created_at"].dt.tz) == "UTC"
    stored = [r["created_at"] for r in services.iter_responses(db_session, demo_survey)]
    assert frame["created_at"].tolist() == [pd.Timestamp(t) for t in stored]  # to the microsecond
    assert stored[0].microsecond != 0 or stored[-1].microsecond != 0
    wave1 = services.responses_frame(db_session, demo_survey, wave=1)
    assert len(wave1) == 20
    east = services.responses_frame(db_session, demo_survey, segment={"region": "east"})
    assert len(east) == 11 and set(east["region"]) == {"east"}
    assert len(services.responses_frame(db_session, demo_survey, wave=1, segment=("region", "south"))) == 10
    assert services.count_responses(db_session, demo_survey) == {1: 20, 2: 1}


def test_bulk_insert_is_all_or_nothing(db_session, demo_survey, valid_answers):
    rows = [valid_answers(), valid_answers(PQ1="42"), valid_answers(), valid_answers(region="moon")]
    with pytest.raises(services.InvalidRows) as info:
        services.record_responses_bulk(db_session, demo_survey, rows)
    assert sorted(info.value.rows) == [1, 3] and info.value.rows[1].codes == {"PQ1": "out_of_range"}
    assert count(db_session) == 0


def test_iter_responses_pages_in_id_order(db_session, demo_survey, valid_answers):
    services.record_responses_bulk(db_session, demo_survey, [valid_answers(CL1=str(i + 1)) for i in range(7)])
    rows = list(services.iter_responses(db_session, demo_survey, batch_size=3))
    assert [r["CL1"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[0]["complaint_cause"] is None and rows[0]["region"] == "east" and rows[0]["wave"] == 1
    assert rows[0]["created_at"].tzinfo is not None
    page = list(services.iter_responses(db_session, demo_survey, after_id=rows[2]["response_id"], limit=2))
    assert [r["CL1"] for r in page] == [4, 5]


def test_empty_frame_has_columns(db_session, demo_survey, valid_answers):
    frame = services.responses_frame(db_session, demo_survey)
    assert frame.empty and "CE1" in frame.columns and "response_id" in frame.columns
    assert isinstance(frame, pd.DataFrame)


def test_frame_is_the_same_from_packed_rows_and_from_the_answer_table(db_session, demo_survey, valid_answers):
    rows = [valid_answers(CE1=str(1 + i % 10), CS2="dk" if i % 3 == 0 else "4", complained="yes" if i % 2 else "no",
                          complaint_handling=("dk" if i % 4 == 1 else "6") if i % 2 else None,
                          complaint_cause=["quality", "systems"][:1 + i % 2] if i % 2 else None,
                          customer_type=["consumer", "business", "public"][i % 3], comment=f"c{i}" if i % 5 else "")
            for i in range(12)]
    services.record_responses_bulk(db_session, demo_survey, rows)
    packed = services.responses_frame(db_session, demo_survey)
    db_session.execute(sa.update(Response).values(packed=None))  # as rows written by another loader
    db_session.commit()
    legacy = services.responses_frame(db_session, demo_survey)
    pd.testing.assert_frame_equal(packed, legacy)
    assert packed["comment"].tolist()[:6] == [None, "c1", "c2", "c3", "c4", None]
    assert packed["complaint_cause"].tolist()[:3] == [None, "quality;systems", None]
    assert packed["customer_type"].tolist()[:3] == ["consumer", "business", "public"]
    assert math.isnan(packed.loc[0, "CS2"]) and packed.loc[1, "CS2"] == 4


def test_questionnaire_changes_reach_the_next_submission(db_session, demo_survey, valid_answers):
    services.record_response(db_session, demo_survey, valid_answers())
    services.retire_item(db_session, services.get_question(demo_survey, "PV2"))
    services.add_item(db_session, demo_survey, "PV", {"text_en": "Price fair?", "text_zh": "价格公道吗？"})
    with pytest.raises(services.InvalidResponse) as info:
        services.record_response(db_session, demo_survey, valid_answers())
    assert info.value.codes == {"PV3": "required"}
    services.new_wave(db_session, demo_survey)
    services.record_response(db_session, demo_survey, valid_answers(PV3="9"))
    frame = services.responses_frame(db_session, demo_survey)
    assert "PV2" not in frame.columns and frame["PV3"].tolist()[1] == 9 and math.isnan(frame["PV3"].tolist()[0])
    assert frame["wave"].tolist() == [1, 2]


def test_pack_matrix_matches_row_packing():
    from survey.storage import packing

    codes = np.array([[7, -1, 2], [-2, 10, 0], [-2, -2, -2]])
    blobs = packing.pack_matrix([11, 12, 13], codes)
    assert blobs[0] == packing.pack([(11, 7), (12, -1), (13, 2)])
    assert blobs[1] == packing.pack([(12, 10), (13, 0)]) and blobs[2] == b""
    rows, qids, values = packing.unpack(blobs + [None])
    assert rows.tolist() == [0, 0, 0, 1, 1] and qids.tolist() == [11, 12, 13, 12, 13]
    assert values.tolist() == [7, -1, 2, 10, 0]


def test_concurrent_submissions_with_one_token_store_exactly_one(app, db_session, demo_survey, valid_answers):
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.orm import Session

    token, = services.generate_tokens(db_session, demo_survey, 1)
    engine = db_session.get_bind()

    def submit(_):
        with Session(engine) as session:
            survey = services.get_survey(session, "csi")
            try:
                services.record_response(session, survey, valid_answers(), token=token)
            except services.TokenUsed:
                return "refused"
            return "stored"

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = sorted(pool.map(submit, range(6)))
    assert outcomes == ["refused"] * 5 + ["stored"]
    assert count(db_session) == 1
