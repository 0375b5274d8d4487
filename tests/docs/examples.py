"""Finding the shell examples of a Markdown page (the convention is in test_shell_examples.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Fences that hold shell but are not `sh`: refused, so that no example escapes the runner by
# being labelled another way. `console` transcripts are written as `sh` with `$ ` prompts.
OTHER_SHELLS = ("bash", "shell", "console", "zsh", "shell-session")

_FENCE = re.compile(r"^(```+|~~~+)\s*(\S*)\s*(.*)$")

# The first word of a command an unlabelled block would show: such a block must say `sh` (or
# `sh no-run`), and a synopsis `text`.
_COMMAND = re.compile(
    r"^(\$ |vm-registry |\.venv/|\. \.venv|curl |make |pip |python3? |pg_|createdb |psql |export )"
)


@dataclass(frozen=True, slots=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    info: str  # what follows the language on the fence line, e.g. "no-run"
    text: str

    @property
    def runs(self) -> bool:
        return "no-run" not in self.info.split()

    @property
    def needs_postgres(self) -> bool:
        return "postgres" in self.info.split()

    @property
    def where(self) -> str:
        return f"{self.page.name}:{self.line}"

    def script(self) -> str:
        """The commands to run. A block written as a transcript (lines starting with `$ `)
        runs only its prompted lines and their `\\` continuations; the rest is output."""
        lines = self.text.splitlines()
        if not any(line.startswith("$ ") for line in lines):
            return self.text
        commands: list[str] = []
        continued = False
        for line in lines:
            if line.startswith("$ "):
                commands.append(line[2:])
            elif continued:
                commands.append(line)
            else:
                continue
            continued = line.rstrip().endswith("\\")
        return "\n".join(commands) + "\n"


def shell_blocks(page: Path) -> list[Block]:
    """Every ```sh block of the page, in order; raises on a shell block fenced another way."""
    blocks: list[Block] = []
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, language, info = opening.groups()
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].startswith(fence):
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        if language in OTHER_SHELLS:
            raise ValueError(
                f"{page.name}:{start + 1}: a ```{language} block; write ```sh (run by the "
                "suite) or ```sh no-run"
            )
        first = next((line for line in body if line.strip() and not line.startswith("#")), "")
        if language == "" and _COMMAND.match(first):
            raise ValueError(
                f"{page.name}:{start + 1}: commands in an unlabelled block; write ```sh (run "
                "by the suite), ```sh no-run, or ```text for a synopsis"
            )
        if language == "sh":
            blocks.append(Block(page, start + 1, info, "\n".join(body) + "\n"))
    return blocks
