"""Command line: `python -m taskplatform up`."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    commands = {"up": "start the whole platform with embedded defaults (what `make up` runs)"}
    if len(argv) != 1 or argv[0] not in commands:
        usage = "\n".join(f"  {name:<10} {text}" for name, text in commands.items())
        print(f"usage: python -m taskplatform <command>\n{usage}", file=sys.stderr)  # noqa: T201
        return 2
    from taskplatform.devstack import main as up

    return up()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
