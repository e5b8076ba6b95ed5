"""SocketScope: `main.py` opens the desktop app;
`main.py serve|token|connect|export|import|replay|load` is the CLI."""

from __future__ import annotations

import sys

CLI_COMMANDS = {"serve", "token", "connect", "export", "import", "replay", "load"}


def main(argv: list[str]) -> int:
    if argv and argv[0] in CLI_COMMANDS:
        from core.cli import main as cli_main

        return cli_main(argv)
    from ui.app import main as app_main

    return app_main(argv)


def run() -> None:
    """The `socketscope` command that `pip install` makes (pyproject's project.scripts)."""
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()
