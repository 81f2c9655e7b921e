"""Run the local Compute Engine alone: ``python -m fakes.gcp --port 8090`` (test/support on sys.path)."""

from __future__ import annotations

import argparse

from fakes.gcp.server import FakeGcp
from fakes.gcp.state import DEFAULT_PROJECT
from fakes.serving import serve_until_stopped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Compute Engine v1 stand-in (test/demo only).")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--project", default=DEFAULT_PROJECT)
    args = parser.parse_args(argv)
    fake = FakeGcp(args.port, args.project)
    env = {k: v for k, v in fake.cloud_env().items() if k != "CLOUD"}
    serve_until_stopped(fake, f"fake GCP compute on {fake.url} (project {fake.project})", env)


if __name__ == "__main__":
    main()
