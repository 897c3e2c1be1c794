"""The CLI: every command documented, friendly errors, and the whole flow from a shell."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from publisher.cli import COMMANDS, build_parser, main

from .helpers import ROOT, Site
from .vendors import WeComServer


def run(site: Site, *args: str) -> int:
    return main(["--config", str(site.config), *args])


def test_every_command_has_help_and_is_documented_in_the_readme(
    capsys: pytest.CaptureFixture[str],
) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for name in COMMANDS:
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args([name, "--help"])
        assert info.value.code == 0
        assert re.search(rf"`publisher {name}\b", readme), f"README does not document {name}"
    assert "usage:" in capsys.readouterr().out


def test_check_reports_every_bad_file_and_fails(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.write("good")
    (site.root / "items" / "bad.md").write_text("---\nid: bad\ntitle: [\n---\n", "utf-8")
    site.write("naive", publish_at="2026-11-26 09:00")
    assert run(site, "check") == 1
    out = capsys.readouterr().out
    assert "items/bad.md:" in out and "malformed YAML" in out
    assert "items/naive.md:8: field 'publish_at'" in out
    assert "1 notice(s) valid, 2 error(s)" in out


def test_full_flow_from_the_command_line(
    site: Site, wecom: WeComServer, capsys: pytest.CaptureFixture[str]
) -> None:
    site.write("n1", body="联系人手机 13812345678")
    assert run(site, "review", "n1") == 1
    out = capsys.readouterr().out
    assert "BLOCK" in out and "mobile" in out and "13812345678" not in out
    assert run(site, "approve", "n1", "--reviewer", "李明") == 1
    assert "blocking finding" in capsys.readouterr().err
    assert run(site, "approve", "n1", "--reviewer", "李明", "--allow", "mobile") == 1
    assert "--reason" in capsys.readouterr().err
    assert (
        run(
            site, "approve", "n1", "--reviewer", "李明", "--allow", "mobile", "--reason", "值班电话"
        )
        == 0
    )
    assert "approved n1" in capsys.readouterr().out
    assert run(site, "push", "n1", "--dry-run") == 0
    assert "would send now" in capsys.readouterr().out
    assert wecom.received == []
    assert run(site, "preview", "n1", "--channel", "group") == 0
    out = capsys.readouterr().out
    assert '"msgtype":"news"' in out and "test-key-0123456789abcdef" not in out
    assert run(site, "push", "n1", "--channel", "group") == 0
    assert "group            sent" in capsys.readouterr().out
    assert len(wecom.received) == 1
    assert run(site, "status", "--json") == 0
    status = {s["channel"]: s for s in json.loads(capsys.readouterr().out)}
    assert status["group"]["counts"] == {"sent": 1}
    assert status["feed"]["counts"] == {"pending": 1}
    assert run(site, "run", "--once") == 0
    assert run(site, "show", "n1", "--history") == 0
    out = capsys.readouterr().out
    assert "allowed mobile: 值班电话" in out and "delivery.sent" in out
    assert run(site, "withdraw", "n1", "--reason", "信息有误") == 0
    assert "withdrew n1" in capsys.readouterr().out
    assert run(site, "items", "--json") == 0
    items = json.loads(capsys.readouterr().out)
    assert items[0]["state"] == "withdrawn"


def test_friendly_errors(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(site, "show", "nope") == 1
    assert "no notice with id 'nope'" in capsys.readouterr().err
    assert run(site, "preview", "nope", "--channel", "ghost") == 1
    assert "unknown or disabled channel 'ghost'" in capsys.readouterr().err
    assert main(["--config", str(site.root / "missing.yaml"), "status"]) == 1
    assert "publisher init" in capsys.readouterr().err
    assert main([]) == 2


def test_init_creates_a_working_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "newsite"
    assert main(["--config", str(target / "config.yaml"), "init", str(target)]) == 0
    assert (target / "config.yaml").exists() and (target / "items" / "example.md").exists()
    assert main(["--config", str(target / "config.yaml"), "check"]) == 0
    assert main(["--config", str(target / "config.yaml"), "review", "example"]) == 0


def test_text_logs_redact_secrets_inside_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from publisher.cli import setup_logging
    from publisher.secrets import Secret

    secret = Secret("k3y-" + "9" * 20, "TEST_LOG_KEY").reveal()
    setup_logging(0, "text")
    try:
        raise ValueError(f"POST https://qyapi.weixin.qq.com/send?key={secret} failed")
    except ValueError:
        logging.getLogger("publisher.test").exception("send failed")
    err = capsys.readouterr().err
    assert "Traceback" in err and "send failed" in err
    assert secret not in err


def test_status_piped_into_head_ends_quietly_and_counts_cancelled(site: Site) -> None:
    import subprocess
    import sys

    cli = f"{sys.executable} -m publisher --config {site.config}"
    # `true` reads nothing and is gone before the bot writes: every write meets a closed pipe
    for shell in (f"{cli} status --json | true", f"{cli} status --json | head -1"):
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", shell], cwd=site.root, capture_output=True, text=True
        )
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
    done = subprocess.run(
        ["bash", "-c", f"{cli} status"], cwd=site.root, capture_output=True, text=True
    )
    assert "cancelled" in done.stdout.splitlines()[0]
