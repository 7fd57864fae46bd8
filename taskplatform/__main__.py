"""Command line: `python -m taskplatform up | demo-data | rabbitmq-policies | rabbitmq-device-user`.

Each command lives in `taskplatform/dev/` and is imported only when run.
"""

from __future__ import annotations

import sys

COMMANDS = {
    "up": "start the whole platform with embedded defaults (what `make up` runs)",
    "demo-data": "load a synthetic gym (students, six months of check-ins) through the running API",
    "rabbitmq-policies": "attach the dead-letter policy of raw_sessions (rabbitmqctl or --management-url)",
    "rabbitmq-device-user": "create the devices' user: declare and publish to rasp_data only (RABBITMQ_DEVICE_*)",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        usage = "\n".join(f"  {name:<22} {text}" for name, text in COMMANDS.items())
        print(f"usage: python -m taskplatform <command> [options]\n{usage}", file=sys.stderr)  # noqa: T201
        return 2
    if argv[0] == "up":
        from taskplatform.dev.devstack import main as up

        return up()
    if argv[0] == "rabbitmq-policies":
        from taskplatform.dev.rabbitmq_policies import main as policies

        return policies(argv[1:])
    if argv[0] == "rabbitmq-device-user":
        from taskplatform.dev.rabbitmq_device_user import main as device_user

        return device_user(argv[1:])
    from taskplatform.dev.demo_data import main as demo_data

    return demo_data(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
