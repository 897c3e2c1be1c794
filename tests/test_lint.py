from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.model import Notice, Severity
from publisher.review.matching import fold
from publisher.review.rules import LintConfig, id_number_valid, luhn_valid, mask, run_rules

from .helpers import START

CFG = LintConfig(school_name="测试示范大学", allowed_domains=("example.edu.cn",))
BASE = Notice(
    id="x",
    title="测试示范大学通知",
    category="zsks",
    item=7,
    department="招生就业处",
    summary="",
    body="正文。",
    publish_at=START,
    lines={"title": 3, "body": 11},
)

VALID_ID = "11010519491231002X"  # the checksum-valid example from GB 11643
VALID_CARD = "6222021234567890128"  # 19 digits, passes Luhn


def lint(body: str = "正文。", cfg: LintConfig = CFG, **kw: object) -> list:
    return run_rules(replace(BASE, body=body, **kw), cfg)  # type: ignore[arg-type]


def rules(findings: list, severity: Severity | None = None) -> set[str]:
    return {f.rule for f in findings if severity is None or f.severity == severity}


def test_clean_notice_has_no_findings() -> None:
    assert lint("学校将于11月举行开放日，咨询电话 0851-86681369。") == []


def test_secret_markings_block_even_when_disguised() -> None:
    assert "secret-marking" in rules(lint("本文件为内部资料，请勿外传。"), Severity.BLOCK)
    assert "secret-marking" in rules(lint("机\u200b密文件"), Severity.BLOCK)  # zero-width
    assert "secret-marking" in rules(lint("內部資料"), Severity.BLOCK)  # 繁体
    assert "secret-marking" in rules(lint("秘密★1年"), Severity.BLOCK)
    f = next(f for f in lint("第一行\n第二行 绝密 文件") if f.rule == "secret-marking")
    assert (f.line, f.column) == (12, 5)


def test_id_number_checksum() -> None:
    assert id_number_valid(VALID_ID)
    assert not id_number_valid("110105194912310021")  # wrong check digit
    found = lint(f"学生身份证号：{VALID_ID}。")
    assert "id-number" in rules(found, Severity.BLOCK)
    assert VALID_ID not in " ".join(f.excerpt for f in found)  # the report masks it
    assert "id-number" not in rules(lint("编号 110105194912310021 的文件"))


def test_bank_card_luhn_and_mobile_but_not_landline() -> None:
    assert luhn_valid(VALID_CARD) and not luhn_valid("6222021234567890127")
    assert "bank-card" in rules(lint(f"请汇款至 {VALID_CARD}"), Severity.BLOCK)
    assert "bank-card" in rules(lint("卡号 6222 0212 3456 7890 128"), Severity.BLOCK)
    assert "bank-card" not in rules(lint("预算 6222021234567890127 元"))
    assert "mobile" in rules(lint("联系人手机 13812345678"), Severity.BLOCK)
    assert "mobile" in rules(lint("联系人手机 138-1234-5678"), Severity.BLOCK)
    assert rules(lint("办公电话 0858-8681369 或 0851-86681201")) == set()
    assert rules(lint("考生编号 105206000001")) == set()


def test_student_id_is_a_setting() -> None:
    cfg = replace(
        CFG, student_id_pattern=r"(?<!\d)20\d{8}(?!\d)", student_id_severity=Severity.BLOCK
    )
    assert "student-id" in rules(lint("学号2023010101", cfg=cfg), Severity.BLOCK)
    assert "student-id" not in rules(lint("学号2023010101"))


def test_spam_deny_list_after_normalisation() -> None:
    for text in (
        "欢迎访问开云体育官网",
        "開雲體育",
        "开\u200b云\u200d体育",
        "开🎉云体育",
        "ｋａｉｙｕｎ",
        "百 家 乐",
        "KaiYun",
    ):
        assert "spam" in rules(lint(text), Severity.BLOCK), text
    assert "spam" not in rules(lint("港澳台地区招生"))
    cfg = replace(CFG, deny_list=("代写论文",))
    assert "spam" in rules(lint("专业代写论文", cfg=cfg))


def test_school_name_removed_or_altered() -> None:
    previous = replace(BASE, body="测试示范大学2026年招生章程")
    hijacked = replace(BASE, title="通知", body="开云示范大学2026年招生章程")
    found = run_rules(hijacked, CFG, previous=previous)
    assert "school-name" in rules(found, Severity.BLOCK)
    lookalike = run_rules(replace(BASE, body="欢迎报考测试师范大学"), CFG)
    assert "school-name" in rules(lookalike, Severity.BLOCK)
    cfg = replace(CFG, require_school_name=True)
    assert "school-name" in rules(run_rules(replace(BASE, title="通知"), cfg), Severity.BLOCK)
    assert "school-name" not in rules(run_rules(BASE, cfg))


def test_emoji_warns_in_formal_text() -> None:
    found = [f for f in lint("热烈祝贺🎉🎉") if f.rule == "emoji"]
    assert found and found[0].severity == Severity.WARN
    assert not [f for f in lint("热烈祝贺🎉", cfg=replace(CFG, emoji="off")) if f.rule == "emoji"]


def test_links_outside_allowed_domains_block() -> None:
    ok = "见[通知](https://www.example.edu.cn/a.htm)和 https://jwc.example.edu.cn/b"
    assert "link-domain" not in rules(lint(ok))
    bad = lint("详见 [这里](https://bet.example.com/x) 与 <http://evil.cn/>")
    assert len([f for f in bad if f.rule == "link-domain"]) == 2
    assert "link-domain" in rules(lint("[x](javascript:alert(1))"), Severity.BLOCK)


def test_hidden_bidi_controls_block() -> None:
    assert "hidden-text" in rules(lint("金额\u202e001\u202c元"), Severity.BLOCK)
    assert "hidden-text" in rules(lint("正\u200b文"), Severity.WARN)


def test_mask() -> None:
    assert mask("13812345678") == "1381*****78"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_normalisation_index_map_points_into_the_original(text: str) -> None:
    norm, index = fold(text)
    assert len(norm) == len(index)
    assert all(0 <= i < len(text) for i in index)
    assert list(index) == sorted(index)


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=120),
    st.sampled_from(["绝密", "内部资料", "百家乐", "开云"]),
    st.text(alphabet="\u200b\u200d\ufe0f 🎉", max_size=3),
)
def test_a_marked_word_is_found_whatever_is_sprinkled_into_it(
    prefix: str, word: str, noise: str
) -> None:
    disguised = noise.join(word)
    found = lint(prefix + "。" + disguised)
    assert rules(found, Severity.BLOCK) & {"secret-marking", "spam"}
