"""CLI commands on both databases: create-manager and demo."""
import sqlalchemy as sa

from survey import services
from survey.storage.tables import Manager, Response


def test_create_manager_with_password_option(runner, db_session):
    result = runner.invoke(args=["create-manager", "Boss@Example.com", "--password", "s3cret-pass"])
    assert result.exit_code == 0, result.output
    assert services.authenticate(db_session, "boss@example.com", "s3cret-pass") is not None
    again = runner.invoke(args=["create-manager", "boss@example.com", "--password", "s3cret-pass"])
    assert again.exit_code == 2 and "already exists" in again.output


def test_create_manager_prompts_and_rejects_short_password(runner, db_session):
    result = runner.invoke(args=["create-manager", "p@example.com"], input="long enough pw\nlong enough pw\n")
    assert result.exit_code == 0, result.output
    short = runner.invoke(args=["create-manager", "q@example.com", "--password", "short"])
    assert short.exit_code == 2 and "at least 8" in short.output
    bad = runner.invoke(args=["create-manager", "not-an-email", "--password", "long enough pw"])
    assert bad.exit_code == 2
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Manager)) == 1


def test_create_manager_password_from_environment(runner, db_session, monkeypatch):
    monkeypatch.setenv("CSI_MANAGER_PASSWORD", "from the env")
    assert runner.invoke(args=["create-manager", "env@example.com"]).exit_code == 0
    assert services.authenticate(db_session, "env@example.com", "from the env") is not None


def test_demo_creates_two_waves_and_is_idempotent(runner, db_session, monkeypatch):
    monkeypatch.setenv("CSI_DEMO_PASSWORD", "demo-password")
    result = runner.invoke(args=["demo", "--responses", "300"])
    assert result.exit_code == 0, result.output
    assert "demo@example.com" in result.output
    survey = services.get_survey(db_session, "demo")
    assert services.count_responses(db_session, survey) == {1: 150, 2: 150}
    frame = services.responses_frame(db_session, survey)
    by_wave = frame.groupby("wave")[["PQ1", "PQ2", "PQ3"]].mean().mean(axis=1)
    assert by_wave[2] > by_wave[1]  # wave 2 slightly better
    assert frame["CE1"].isna().mean() < 0.1 and frame["CE1"].between(1, 10).sum() > 250
    assert frame["region"].nunique() >= 4 and set(frame["locale"]) == {"en", "zh_CN"}
    assert frame["CS1"].corr(frame["CL1"]) > 0.3  # simulated from the CSI paths
    complained = frame[frame["complained"] == "yes"]
    assert len(complained) > 0 and complained["complaint_cause"].notna().all()
    assert frame.loc[frame["complained"] == "no", "complaint_handling"].isna().all()
    assert services.authenticate(db_session, "demo@example.com", "demo-password") is not None
    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and "nothing to do" in again.output
    refused = runner.invoke(args=["demo"])
    assert refused.exit_code == 2
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Response)) == 300


def test_set_password(runner, db_session):
    runner.invoke(args=["create-manager", "m@example.com", "--password", "first password"])
    result = runner.invoke(args=["set-password", "m@example.com", "--password", "second password"])
    assert result.exit_code == 0, result.output
    assert services.authenticate(db_session, "m@example.com", "second password") is not None
    assert services.authenticate(db_session, "m@example.com", "first password") is None
    assert runner.invoke(args=["set-password", "nobody@example.com", "--password", "whatever1"]).exit_code == 2
    assert runner.invoke(args=["set-password", "m@example.com", "--password", "short"]).exit_code == 2
