"""``docuvault-stack up|down|ps|logs`` — what the Makefile's targets run."""

from __future__ import annotations

import argparse
import sys
import time

from docuvault.devstack.config import StackConfig
from docuvault.devstack.infra import StackError
from docuvault.devstack.stack import Stack


def main() -> None:
    parser = argparse.ArgumentParser(prog="docuvault-stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start what is not running and wait until it is ready")
    sub.add_parser("down", help="stop what `up` started")
    sub.add_parser("ps", help="name, pid and state of each process")
    logs = sub.add_parser("logs", help="the end of each log")
    logs.add_argument("-n", type=int, default=30, help="lines per process")
    logs.add_argument("-f", "--follow", action="store_true")
    args = parser.parse_args()
    stack = Stack(StackConfig.default())
    try:
        if args.command == "up":
            stack.up()
        elif args.command == "down":
            stopped = stack.down()
            said = ", ".join(f"{name} ({how})" for name, how in stopped.items())
            print(f"stopped: {said or 'nothing was running'}")
        elif args.command == "ps":
            print(f"{'NAME':<12}{'PID':>8}  STATE")
            for name, pid, state in stack.ps():
                print(f"{name:<12}{pid or '-':>8}  {state}")
        else:
            _logs(stack, args.n, args.follow)
    except StackError as exc:
        print(f"docuvault-stack {args.command}: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


def _logs(stack: Stack, lines: int, follow: bool) -> None:
    for name in stack.names:
        print(f"==> {name} <==")
        print(stack.tail(name, lines))
    if not follow:
        return
    positions = {
        n: stack.tracked(n).log_file.stat().st_size
        for n in stack.names
        if stack.tracked(n).log_file.exists()
    }
    while True:
        for name in list(positions):
            path = stack.tracked(name).log_file
            with path.open(errors="replace") as log:
                log.seek(positions[name])
                for line in log:
                    print(f"{name:<11}| {line}", end="")
                positions[name] = log.tell()
        time.sleep(0.5)


if __name__ == "__main__":
    main()
