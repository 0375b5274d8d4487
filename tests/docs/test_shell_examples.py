"""The README's and docs/'s shell examples run here, as a reader would paste them, so a stale
example fails `make test`.

The convention (docs/README.md, "Examples in these pages", says the same for writers):

- A block opened with ```sh is run. One opened with ```sh no-run is not: it needs root, a
  container runtime, a package index, or it runs forever. Shell fenced any other way (```bash,
  ```console...) is refused, and so is an unlabelled block that starts with a command, so no
  example escapes by its label. Other languages and plain ``` blocks (output, configuration)
  are not shell; a synopsis is ```text.
- A block opened with ```sh postgres needs PostgreSQL: its page runs on a cluster of the test's
  own (tests/support/throwaway_postgres.py), named by libpq's variables (PGHOST, PGPORT),
  which psql, pg_dump and vm-registry all read; the page shows a reader the same variables,
  in a no-run block, set to their server. Where the binaries are missing the page is skipped
  with the reason, and in CI it fails (tests/support/requires.py).
- A block written as a transcript (`$ ` prompts) runs its prompted lines; the rest is output,
  shown, not compared.
- The blocks of one page run in order in one bash (`set -e -o pipefail`), so `R=...` in one
  block holds in the next, in a scratch directory holding the checkout's `.venv` (as after
  `make serve`), with PATH cleared of `vm-registry`: a page must say `.venv/bin/vm-registry`
  or show the `. .venv/bin/activate` step.
- `make serve` is stood in for by starting the server the test way: `vm-registry serve --db
  data/registry.db` on a free port, one fresh server per page. The page's
  `http://127.0.0.1:3000` is rewritten to that port, and `VERS_INFRA_URL` names it for the
  commands that rely on the default address. Nothing else of the text is changed.
- curl fails on an HTTP error (`--fail-with-body`), so an example that no longer answers 2xx
  fails; a streaming curl (`-N`) is cut after a second, which is not a failure.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.docs.examples import Block, shell_blocks
from tests.support.server import ServerProcess
from tests.support.throwaway_postgres import ThrowawayPostgres

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
DEFAULT_URL = "http://127.0.0.1:3000"
PAGE_TIMEOUT = 180  # seconds for all the blocks of one page

PRELUDE = r"""
set -eE -o pipefail
trap 'echo "FAILED in $__block: $BASH_COMMAND (exit $?)" >&2' ERR
curl() {
  local streaming=0 arg
  for arg in "$@"; do [[ $arg == -N || $arg == --no-buffer ]] && streaming=1; done
  if (( streaming )); then
    command curl --no-progress-meter --fail-with-body --max-time 1 "$@" || [[ $? == 28 ]]
  else
    command curl --no-progress-meter --fail-with-body --max-time 30 "$@"
  fi
}
"""


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_every_shell_block_is_fenced_sh() -> None:
    for page in PAGES:
        shell_blocks(page)  # raises on ```bash, ```console...


def script_of(blocks: list[Block], url: str) -> str:
    parts = [PRELUDE]
    for block in blocks:
        parts.append(f"__block={block.where}\n")
        parts.append(block.script().replace(DEFAULT_URL, url))
    return "".join(parts)


def environment(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERS_", "VM_REGISTRY_", "PG"))}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join(p for p in path if not Path(p, "vm-registry").exists())
    env["VERS_INFRA_URL"] = url
    return env


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_shell_examples_run(page: Path, tmp_path: Path) -> None:
    blocks = [block for block in shell_blocks(page) if block.runs]
    if not blocks:
        return
    work = tmp_path / "checkout"
    (work / "data").mkdir(parents=True)
    (work / ".venv").symlink_to(ROOT / ".venv")
    db = work / "data" / "registry.db"
    with contextlib.ExitStack() as cleanup:
        server = ServerProcess(db, target=str(db)).start()
        cleanup.callback(server.kill)
        env = environment(server.url)
        if any(block.needs_postgres for block in blocks):
            cluster = ThrowawayPostgres()
            cleanup.callback(cluster.destroy)
            cluster.init()
            env.update(PGHOST="127.0.0.1", PGPORT=str(cluster.port))
        done = subprocess.run(
            ["bash", "-c", script_of(blocks, server.url)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=PAGE_TIMEOUT,
        )
    assert done.returncode == 0, (
        f"a shell example of {page_id(page)} failed (exit {done.returncode}):\n"
        f"{done.stderr[-4000:]}\n--- stdout ---\n{done.stdout[-3000:]}"
    )
