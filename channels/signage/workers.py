"""Laying out and drawing slides on every core.

A first export of a large site lays out thousands of notices and draws thousands of PNGs
(zlib bound); one Python process uses one core for that. Big batches go to a pool of worker
processes shared by the whole process (one per core by default; ``render_workers`` in the
channel's options); a small batch, the usual case once a site is exported, is done in the
calling thread, where starting workers would cost more than it saves.

Workers are started with ``spawn``: the publisher runs threads (the scheduler, the HTTP
server), and a forked child could inherit a lock another thread held. A pool that breaks (a
worker killed by the OOM killer) is dropped and the batch is done in process: slower, never
lost.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import CancelledError, Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from channels.common.fonts import Fonts
from publisher.errors import ChannelError
from publisher.model import PublishedNotice

from .layout import Layout
from .options import Profile
from .render import png
from .slides import Slide

log = logging.getLogger("publisher.signage")

# below this many jobs the batch is done in process (a worker takes ~0.5 s to start)
MIN_BATCH = 24

_pools: dict[int, Executor] = {}
_pools_guard = threading.Lock()
# in each worker: layouts by (fonts, profile, site), reused across the jobs of a batch
_layouts: dict[tuple[Fonts, str, str], Layout] = {}


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _layout(fonts: Fonts, profile: Profile, site: str) -> Layout:
    key = (fonts, profile.model_dump_json(), site)
    if key not in _layouts:
        _layouts[key] = Layout(profile, fonts, site)
    return _layouts[key]


def _lay_out(job: tuple[Fonts, Profile, str, PublishedNotice]) -> list[Slide]:
    fonts, profile, site, view = job
    return _layout(fonts, profile, site).notice_slides(view)


def _draw(job: tuple[Fonts, Profile, Slide]) -> bytes:
    fonts, profile, slide = job
    return png(slide, profile, fonts)


def _pool(workers: int) -> Executor:
    with _pools_guard:
        if workers not in _pools:
            _pools[workers] = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")
            )
        return _pools[workers]


def release() -> None:
    """Stop every pool: slides not started are cancelled (stopping the bot; the next build
    starts a pool again)."""
    with _pools_guard:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=False, cancel_futures=True)


def _drop(workers: int) -> None:
    with _pools_guard:
        pool = _pools.pop(workers, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


class Renderer:
    """Lays out notices and draws slides, in batches, on ``workers`` cores."""

    def __init__(self, fonts: Fonts, site: str, workers: int | None = None) -> None:
        self.fonts = fonts
        self.site = site
        self.workers = workers or default_workers()

    def _parallel(self, n: int) -> bool:
        return self.workers > 1 and n >= MIN_BATCH

    def _chunk(self, n: int) -> int:
        return max(1, n // (self.workers * 4))

    def lay_out(
        self, layout: Layout, profile: Profile, views: Sequence[PublishedNotice]
    ) -> list[list[Slide]]:
        """The slides of each view, in order (``layout``, the caller's own, for a small
        batch)."""
        jobs = [(self.fonts, profile, self.site, v) for v in views]
        if self._parallel(len(jobs)):
            try:
                return list(
                    _pool(self.workers).map(_lay_out, jobs, chunksize=self._chunk(len(jobs)))
                )
            except BrokenProcessPool:
                log.warning("signage: a layout worker died; laying out in process")
                _drop(self.workers)
            except CancelledError:
                raise ChannelError("laying out was stopped (the bot is stopping)") from None
        return [layout.notice_slides(v) for v in views]

    def draw(self, profile: Profile, slides: Sequence[Slide]) -> list[bytes]:
        """The PNG of each slide, in order."""
        jobs = [(self.fonts, profile, s) for s in slides]
        if self._parallel(len(jobs)):
            try:
                return list(_pool(self.workers).map(_draw, jobs, chunksize=self._chunk(len(jobs))))
            except BrokenProcessPool:
                log.warning("signage: a drawing worker died; drawing in process")
                _drop(self.workers)
            except CancelledError:
                raise ChannelError("drawing was stopped (the bot is stopping)") from None
        return [_draw(j) for j in jobs]
