"""python -m fakes.kubernetes [--port N] [--kubeconfig PATH]: serve until stopped, for the demo and by hand."""

from __future__ import annotations

import argparse
from pathlib import Path

from fakes.kubernetes import FakeKubernetes
from fakes.serving import serve_until_stopped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Kubernetes API server (HTTPS)")
    parser.add_argument("--port", type=int, default=6443)
    parser.add_argument("--kubeconfig", type=Path, help="also write the kubeconfig to this file")
    args = parser.parse_args(argv)
    fake = FakeKubernetes(port=args.port)
    if args.kubeconfig:
        args.kubeconfig.write_text(fake.kubeconfig_yaml())
    serve_until_stopped(fake, f"Kubernetes fake on {fake.url}", fake.env())


if __name__ == "__main__":
    main()
