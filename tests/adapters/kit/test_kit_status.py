"""The kit's coalescing status message over plain send/edit callables."""

from __future__ import annotations

import asyncio
import time

from adapters.kit.status import CoalescedMessage


class Recorder:
    def __init__(self, fail_edits: bool = False) -> None:
        self.sent: list[str] = []
        self.edits: list[tuple[float, str]] = []
        self.fail_edits = fail_edits

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def edit(self, text: str) -> None:
        if self.fail_edits:
            raise RuntimeError("rate limited")
        self.edits.append((time.monotonic(), text))
        await asyncio.sleep(0.01)


async def test_a_burst_posts_once_then_edits_at_most_once_per_interval_and_the_last_text_wins() -> None:
    out = Recorder()
    status = CoalescedMessage(out.send, out.edit, interval=0.15)
    for i in range(30):
        status.show(f"step {i}")
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.35)
    assert out.sent == ["step 0"]
    assert 1 <= len(out.edits) <= 3
    gaps = [b[0] - a[0] for a, b in zip(out.edits, out.edits[1:], strict=False)]
    assert all(g >= 0.14 for g in gaps)
    assert out.edits[-1][1] == "step 29"
    await status.finish("done")
    assert out.edits[-1][1] == "done" and status.finished
    status.show("late")  # after finish nothing moves
    await asyncio.sleep(0.2)
    assert out.edits[-1][1] == "done"


async def test_without_post_on_show_nothing_is_posted_until_adopted_and_failed_edits_do_not_raise() -> None:
    out = Recorder(fail_edits=True)
    status = CoalescedMessage(out.send, out.edit, interval=0.05, post_on_show=False)
    status.show("ignored")
    await asyncio.sleep(0.1)
    assert not out.sent and not status.scheduled
    status.adopt("posted by the platform")
    status.show("progress")
    await asyncio.sleep(0.15)
    await status.finish("final")  # every edit fails: logged, never raised
    assert status.shown == "posted by the platform" and not out.sent
