"""Commands of the running bot: `status`, `retry`, `run`, `serve`."""

from __future__ import annotations

import argparse
import json
import logging
import os

from publisher.cli.output import out, screens_table
from publisher.cli.registry import CommandGroup, open_app
from publisher.model import DeliveryState
from publisher.runtime.monitoring import status_row

_group = CommandGroup()
command = _group.command
COMMANDS = _group.commands


def _status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("status", "per channel: pending, sent, failed, dead, paused", _status_arguments)
def cmd_status(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        statuses = app.status()
        if args.json:
            out(json.dumps([status_row(s) for s in statuses], ensure_ascii=False, indent=1))
            return 0
        cols = [
            DeliveryState.PENDING,
            DeliveryState.CLAIMED,
            DeliveryState.SENT,
            DeliveryState.FAILED,
            DeliveryState.UNKNOWN,
            DeliveryState.DEAD,
            DeliveryState.CANCELLED,
        ]
        out(f"{'channel':<16} {'type':<8} " + " ".join(f"{c:>9}" for c in cols) + "  state")
        for s in statuses:
            state = (
                ("PAUSED: " + s.paused)
                if s.paused
                else ("NOT CONFIGURED: " + s.not_configured)
                if s.not_configured
                else "ok"
            )
            out(
                f"{s.name:<16} {s.type:<8} "
                + " ".join(f"{s.counts.get(c, 0):>9}" for c in cols)
                + f"  {state}"
            )
        windows = [s for s in statuses if s.windows or s.rate_limited_day or s.quotas]
        if windows:
            out()
            out(f"{'robot':<16} {'rate windows (sent / allowed)':<40} too-fast replies")
            for s in windows:
                shown = (
                    ", ".join(
                        [f"{u}/{a} in {sec:g} s" for u, a, sec in s.windows]
                        + [f"{q} {u}/{a} today" for q, (u, a) in s.quotas.items()]
                    )
                    or "-"
                )
                out(
                    f"{s.name:<16} {shown:<40} "
                    f"{s.rate_limited_hour} in the last hour, {s.rate_limited_day} in 24 h"
                )
        if app.screens.enabled:
            out()
            screens_table(app)
    return 0


def _retry_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channel", help="only this channel (and resume it if paused)")
    p.add_argument("--notice", help="only this notice")


@command(
    "retry", "requeue failed/dead/unknown deliveries and resume a paused channel", _retry_arguments
)
def cmd_retry(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        n = app.retry(args.channel, args.notice)
        out(
            f"requeued {n} delivery(ies)"
            + (f"; channel {args.channel} resumed" if args.channel else "")
        )
    return 0


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="one pass (sync + deliver), then exit")
    p.add_argument("--port", type=int, help="HTTP port (default: server.port in config)")
    p.add_argument("--host", help="HTTP address (default: server.host in config)")
    p.add_argument(
        "--no-serve",
        action="store_true",
        help="publish only; let another instance or nginx serve the output",
    )


@command("run", "run the scheduler and the HTTP server until Ctrl-C / SIGTERM", _run_arguments)
def cmd_run(args: argparse.Namespace) -> int:
    from publisher.runtime.daemon import Runner

    with open_app(args) as app:
        if args.once:
            app.guard_output()  # a refusal is this command's error, not a log line
            runner = Runner(app, serve=False)
            tick = runner.run_pass(label="once")
            if tick:
                for name, r in tick.channels.items():
                    out(
                        f"{name:<16} "
                        + (
                            r.skipped
                            or ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items()))
                            or "nothing due"
                        )
                    )
            # the pass failed (logged above), or a channel could not publish
            return 0 if tick and not runner.failed_passes else 1
        runner = Runner(app, port=args.port, host=args.host, serve=not args.no_serve)
        runner.run_forever()
    if runner.abandoned:
        # a send still hangs in a worker thread; its delivery is safe in its lease, and
        # waiting for the thread would break the promise to stop within the grace
        logging.shutdown()
        os._exit(0)
    return 0


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, help="HTTP port (default: server.port)")
    p.add_argument("--host", help="HTTP address (default: server.host)")
    p.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the port (default 1)"
    )


@command(
    "serve", "serve the output folder (feeds, pages, signage) without publishing", _serve_arguments
)
def cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from publisher.config import load_settings
    from publisher.service.delivery import file_rules_of
    from publisher.web.server import Server

    settings = load_settings(args.config)
    srv = settings.model.server
    server = Server(
        settings.output_dir,
        args.host or srv.host,
        srv.port if args.port is None else args.port,
        rules=file_rules_of(settings),  # the channels' media types and caching
    )
    if args.workers > 1:
        logging.getLogger("publisher").info(
            "serving %s at %s/ with %d worker processes",
            settings.output_dir,
            server.url,
            args.workers,
        )
        server.run_workers(args.workers)
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    logging.getLogger("publisher").info("serving %s at %s/", settings.output_dir, server.url)
    stop.wait()
    server.stop()
    return 0
