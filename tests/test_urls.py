"""Links are judged on the host a browser would contact (WHATWG URL parsing via ada-url)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from publisher.model import Attachment, Link
from publisher.review.rules import run_rules
from publisher.review.urls import domain_ascii, link_problem

from .test_evasion import BASE, CFG

ALLOWED = CFG.allowed_domains
SITE = CFG.base_url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example\\.moe.gov.cn/",  # a browser goes to evil.example
        "HTTPS://evil.example/",
        "//evil.example/a",  # protocol-relative
        "https://www.gov.cn@evil.example/",  # user-info hides the host
        "https://www.gov.cn%2F@evil.example/",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://gov.cn.evil.example/",
        " https://evil.example/",
        "ht\ttps://evil.example/",  # tabs and newlines are removed by browsers
        "https://xn--80ak6aa92e.com/",  # punycode of a Cyrillic look-alike
        "https://例子.测试/",
    ],
)
def test_links_a_browser_would_follow_off_site_are_refused(url: str) -> None:
    assert link_problem(url, SITE, ALLOWED) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://www.moe.gov.cn/a.htm",
        "HTTP://WWW.EXAMPLE.EDU.CN/",
        "/notices/x.html",
        "files/x.pdf",
        "mailto:xxgk@example.edu.cn",
        "tel:0851-86681003",
        "https://www.gov.cn.:443/x",
    ],
)
def test_links_to_allowed_hosts_pass(url: str) -> None:
    assert link_problem(url, SITE, ALLOWED) is None


def test_idn_allowed_domains_are_compared_in_punycode() -> None:
    allowed = (domain_ascii("南山示范大学.中国"),)
    assert link_problem("https://www.南山示范大学.中国/x", SITE, allowed) is None
    assert link_problem("https://www.xn--南山示范大学.中国/x", SITE, allowed) is not None


def test_every_place_a_link_can_come_from_is_checked() -> None:
    evil = "https://evil.example/x"
    cases = {
        "url": replace(BASE, url=evil),
        "links.0": replace(BASE, links=(Link("通知", evil),)),
        "attachments.0": replace(BASE, attachments=(Attachment("名单", evil),)),
        "body": replace(BASE, body=f"见 [通知][r]\n\n[r]: {evil}"),
        "body (as shown)": replace(BASE, body=f"![图]({evil})"),
    }
    for where, notice in cases.items():
        found = [f for f in run_rules(notice, CFG) if f.rule == "link-domain"]
        assert found and found[0].field.startswith(where.split(" ")[0]), where
