"""python -m fakes.bitbucket --port N: run the local Bitbucket as a process (demo, benchmarks)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from fakes.bitbucket.server import DEFAULT_TOKEN, FakeBitbucket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes.bitbucket", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN[=SCOPE,SCOPE]",
        help=f"an accepted token, all scopes unless listed (repeatable; {DEFAULT_TOKEN} always works)",
    )
    parser.add_argument("--repo", action="append", default=[], metavar="WORKSPACE/SLUG", help="another repository")
    args = parser.parse_args(argv)
    fake = FakeBitbucket(port=args.port)
    for spec in args.token:
        token, _, scopes = spec.partition("=")
        fake.add_token(token, {s for s in scopes.split(",") if s} if scopes else None)
    for full in args.repo:
        ws, _, slug = full.partition("/")
        fake.add_repository(ws, slug, files={"README.md": b"# " + slug.encode() + b"\n"})
    fake.start()
    print(f"fake bitbucket listening: BITBUCKET_API_URL={fake.url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
