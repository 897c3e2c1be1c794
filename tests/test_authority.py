"""Who may approve: a file is not a reviewer; names come from the roster; who ran it is kept."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from publisher.errors import NotAuthorised, NoticeError

from .helpers import PAPER_APPROVES, ROSTER, Site


def forged(sha: str, reviewers: str = "[李明, 王芳]") -> str:
    return f"review: {{reviewers: {reviewers}, date: 2026-11-20, version: {sha[:16]}}}"


def test_a_file_cannot_approve_itself_by_default(make_site: Callable[..., Site]) -> None:
    """The default (paper_records: record): a review block in the file, naming real reviewers
    and its own hash, publishes nothing; it is kept as evidence, and shown."""
    site = make_site(review=ROSTER)
    site.write("n1", title="测试示范大学通知")
    with site.app() as app:
        sha = app.review("n1").sha256
    site.write("n1", title="测试示范大学通知", extra=forged(sha))
    with site.app() as app:
        rep = app.sync()
        assert rep.approved == [] and "kept as evidence" in rep.waiting[0]
        app.tick()
        assert app.store.latest_approved("n1") is None
        assert app.store.deliveries_of("n1") == []
        [record] = app.store.paper_records_of(sha)
        assert record["reviewers"] == ["李明", "王芳"]
        assert not site.out("feeds/all.rss.xml").exists() or "n1" not in site.out(
            "feeds/all.rss.xml"
        ).read_text("utf-8")
        # a rostered reviewer approves it with one command; the form's number comes along
        app.approve("n1", reviewer="李明", os_user="liming")
        [signed] = app.store.approvals_of(sha)
        assert (signed.reviewer, signed.source, signed.ran_by) == ("李明", "cli", "liming")
        assert signed.reviewed_on == "2026-11-20"


def test_allow_in_a_file_is_an_error_naming_the_field(make_site: Callable[..., Site]) -> None:
    site = make_site(review=PAPER_APPROVES)
    site.write(
        "n1",
        title="开云体育官方平台",
        extra="review: {reviewers: [李明], date: 2026-11-20, version: 0123456789abcdef,\n"
        "  allow: [{rule: spam, reason: 已核实}]}",
    )
    with site.app() as app:
        notices, errors = app.load()
    assert notices == {}
    [err] = errors
    assert isinstance(err, NoticeError) and err.field == "review.allow"
    assert "cannot pass a blocking finding" in err.message


def test_opted_in_paper_records_sign_only_for_rostered_reviewers(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(review=PAPER_APPROVES)
    site.write("n1")
    with site.app() as app:
        sha = app.review("n1").sha256
    site.write("n1", extra=forged(sha, "[李明, 张三]"))
    with site.app() as app:
        rep = app.sync()
        assert rep.approved == []
        assert "张三, not on the reviewer roster" in rep.waiting[0]
    site.write("n1", extra=forged(sha, "[李明]"))
    with site.app() as app:
        assert app.sync().approved == ["n1"]
        [signed] = app.store.approvals_of(sha)
        assert signed.ran_by == "file:items/n1.md" and signed.source == "paper"


def test_opted_in_paper_records_never_pass_a_blocking_finding(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(review=PAPER_APPROVES)
    site.write("n1", title="开云体育官方平台欢迎您")
    with site.app() as app:
        sha = app.review("n1").sha256
    site.write("n1", title="开云体育官方平台欢迎您", extra=forged(sha, "[李明]"))
    with site.app() as app:
        rep = app.sync()
        assert rep.approved == [] and "blocking finding" in rep.waiting[0]
        assert app.store.latest_approved("n1") is None


CONTROLLED = """\
  reviewers:
    - {name: 王芳, role: 保密审查员, os_users: [wangfang]}
    - {name: 李明, role: 保密审查员, os_users: [liming]}
"""


def test_the_cli_signs_only_as_rostered_reviewers_the_account_may_act_as(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(review=CONTROLLED, signoffs=2)
    site.write("n1")
    with site.app() as app:
        app.review("n1")
        with pytest.raises(NotAuthorised, match="not on the reviewer roster"):
            app.approve("n1", reviewer="赵六", os_user="liming")
        # one person typing two names does not make two sign-offs
        app.approve("n1", reviewer="李明", os_user="liming")
        with pytest.raises(NotAuthorised, match="may not sign as 王芳"):
            app.approve("n1", reviewer="王芳", os_user="liming")
        assert app.store.latest_approved("n1") is None
        # without --reviewer, the account's own reviewer signs
        res = app.approve("n1", reviewer=None, os_user="wangfang")
        assert res.approved_now
        signed = {(a.reviewer, a.ran_by) for a in app.store.approvals_of(res_sha(app))}
        assert signed == {("李明", "liming"), ("王芳", "wangfang")}


def res_sha(app: object) -> str:
    latest = app.store.latest_approved("n1")  # type: ignore[attr-defined]
    assert latest is not None
    return str(latest.sha256)


def test_a_roster_that_cannot_approve_anything_is_a_config_error(
    make_site: Callable[..., Site],
) -> None:
    from publisher.errors import ErrorSet

    site = make_site(review="  paper_records: approve\n")
    with pytest.raises(ErrorSet, match="paper_records: approve needs a reviewer roster"):
        site.settings()
    site = make_site(review=CONTROLLED, signoffs=3)
    with pytest.raises(ErrorSet, match="roster has only 2"):
        site.settings()


def test_the_os_account_comes_from_the_user_id_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pwd

    from publisher.review.roster import current_os_user

    real = pwd.getpwuid(os.getuid()).pw_name
    for var in ("USER", "LOGNAME", "USERNAME"):
        monkeypatch.setenv(var, "wangfang")
    monkeypatch.delenv("SUDO_UID", raising=False)
    assert current_os_user() == real
