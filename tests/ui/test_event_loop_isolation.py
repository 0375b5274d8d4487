"""A UI test followed, in one pytest process, by a test that calls `asyncio.run()` failed: the
browser fixture kept Playwright's sync API open for the whole session, and with it an event
loop marked as running in the main thread. The default order hid it (`tests/ui` comes near the
end). This runs that order in a pytest of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import requires

ROOT = Path(__file__).resolve().parents[2]
UI_TEST = (
    "tests/ui/test_first_contact.py::test_a_browser_given_the_bare_address_lands_on_the_dashboard"
)
ASYNCIO_RUN_TEST = (
    "tests/feed/test_broker.py"
    "::test_a_filtered_watcher_gets_a_bookmark_at_the_head_once_the_stream_is_quiet"
)


def test_a_test_using_asyncio_run_passes_after_a_ui_test() -> None:
    requires.chromium()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*command, UI_TEST, ASYNCIO_RUN_TEST],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 passed" in done.stdout
