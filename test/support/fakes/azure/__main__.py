"""Run the local Azure alone: ``python -m fakes.azure --port 8443`` (test/support on sys.path)."""

from __future__ import annotations

import argparse

from fakes.azure.server import FakeAzure
from fakes.serving import serve_until_stopped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Azure Resource Manager + Entra ID token endpoint (HTTPS)")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--async-polls", type=int, default=1, help="InProgress polls before an operation ends")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds on async responses")
    args = parser.parse_args(argv)
    fake = FakeAzure(port=args.port)
    fake.async_polls = args.async_polls
    fake.retry_after = args.retry_after
    serve_until_stopped(fake, f"Azure fake on {fake.url}\ncertificate: {fake.cert_path}", fake.env())


if __name__ == "__main__":
    main()
