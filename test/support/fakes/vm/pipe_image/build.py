"""Scenario 8's host side: what the pipe's container image needs to be built inside a test VM.

    files = ensure_distributions()        # requirements.txt for the image's platform, cached by its hash
    with PackageIndex(files) as index:    # PEP 503 on the host's loopback; index.pip_conf for the guest
        seed = {"pipe-image/context.tar": build_context(REPO_ROOT), **base_image_seed(files, index)}

- Distributions: downloaded once per requirements.txt (and this recipe) into the VM cache
  (${XDG_CACHE_HOME:-~/.cache}/cml-runner-pipe/vm/dists-<hash>/), for CPython 3.11 on manylinux x86_64 up to
  glibc 2.36 (Debian bookworm, like the guest and python:3.11-slim-bookworm). A requirement PyPI has only as
  an sdist is served as that sdist, with its build requirements: pip in the image builds it as the release
  build would.
- The index: the guest reaches the host's loopback as 10.0.2.2, over plain HTTP (pip is told to trust it);
  PyPI over HTTPS is out of reach from the guest (TESTING-NOTES.md).
- The build context: the repository's files (tracked, and untracked ones git does not ignore) as a tar; docker
  in the guest applies the repository's .dockerignore itself, as on a developer's machine or in the release.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fakes.vm.image import cache_root
from fakes.vm.qemu import HOST_FROM_GUEST

HERE = Path(__file__).resolve().parent
BASE_DOCKERFILE = HERE / "base.Dockerfile"
RELAY = HERE / "relay.py"
# What python:3.11-slim-bookworm installs beside Python (docker-library/python, 3.11/slim-bookworm/Dockerfile:
# ensurepip's pip of 3.11, then setuptools==70.1.0 and wheel); the stand-in base image installs the same.
BASE_IMAGE_DISTRIBUTIONS = ("pip==24.0", "setuptools==70.1.0", "wheel==0.45.1")
# PyPI has no wheel of these (checked 2026-11-29: bitbucket-pipes-toolkit 6.2.0 is an sdist only).
SDIST_ONLY = ("bitbucket-pipes-toolkit",)
GLIBC_MINOR = 36  # Debian bookworm's glibc 2.36
PLATFORM_ARGS = (
    *(arg for minor in range(GLIBC_MINOR, 16, -1) for arg in ("--platform", f"manylinux_2_{minor}_x86_64")),
    "--platform", "manylinux2014_x86_64", "--platform", "manylinux2010_x86_64", "--platform", "manylinux1_x86_64",
    "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--only-binary=:all:",
)  # fmt: skip
DOWNLOAD_TIMEOUT_S = 900


def _requirements(repo_root: Path) -> list[str]:
    lines = (repo_root / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def _name(requirement: str) -> str:
    return canonical(re.split(r"[=<>!~;\[ ]", requirement, maxsplit=1)[0])


def canonical(name: str) -> str:
    """PEP 503's normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions_hash(repo_root: Path) -> str:
    recipe = {"requirements": _requirements(repo_root), "base": BASE_IMAGE_DISTRIBUTIONS, "sdist": SDIST_ONLY,
              "platform": PLATFORM_ARGS, "version": 1}  # fmt: skip
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure_distributions(repo_root: Path, log: Callable[[str], None] = print) -> Path:
    """The directory of distribution files for the image build, downloaded first if not cached."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"dists-{distributions_hash(repo_root)}"
    with (root / ".dists.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a parallel test worker may be downloading
        if (target / "DONE").exists():
            return target
        for old in root.glob("dists-*"):
            shutil.rmtree(old, ignore_errors=True)
        work = root / f".dists-{distributions_hash(repo_root)}.tmp"
        shutil.rmtree(work, ignore_errors=True)
        log(f"downloading the image's Python distributions for CPython 3.11 on manylinux x86_64 into {target}")
        _download(repo_root, work)
        (work / "DONE").write_text("\n".join(sorted(p.name for p in work.iterdir())) + "\n")
        work.rename(target)
        return target


def _pip(*args: str) -> None:
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, stdin=subprocess.DEVNULL,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise RuntimeError(f"pip {args[0]} failed (exit {done.returncode}):\n{tail}")


def _download(repo_root: Path, work: Path) -> None:
    files, built = work, work / ".built"
    requirements = _requirements(repo_root)
    sdist_lines = [r for r in requirements if _name(r) in {canonical(n) for n in SDIST_ONLY}]
    # The sdists as PyPI has them, and a wheel of each built here only so that pip can resolve their
    # dependencies for the image's platform; the image gets the sdist.
    _pip("download", "--no-deps", "--no-binary=:all:", "--dest", str(files), *sdist_lines)
    sdists = sorted(files.glob("*.tar.gz"))
    _pip("wheel", "--no-deps", "--wheel-dir", str(built), *map(str, sdists))
    _pip("download", "--dest", str(files), "--find-links", str(built), *PLATFORM_ARGS, *requirements)
    for wheel in built.glob("*.whl"):
        (files / wheel.name).unlink(missing_ok=True)
    shutil.rmtree(built)
    build_requires = [req for sdist in sdists for req in _build_requires(sdist)]
    for group in (build_requires, BASE_IMAGE_DISTRIBUTIONS):  # apart: both may pin setuptools, differently
        _pip("download", "--dest", str(files), *PLATFORM_ARGS, *group)


def _build_requires(sdist: Path) -> list[str]:
    """[build-system] requires of an sdist's pyproject.toml; PEP 518's default without one."""
    with tarfile.open(sdist) as tar:
        for member in tar:
            if member.name.count("/") == 1 and member.name.endswith("/pyproject.toml"):
                extracted = tar.extractfile(member)
                assert extracted is not None
                requires: list[str] = tomllib.load(extracted).get("build-system", {}).get("requires", [])
                return requires
    return ["setuptools>=40.8.0", "wheel"]


def project_of(filename: str) -> str:
    """The normalized project name of a wheel or an sdist file name."""
    if filename.endswith(".whl"):
        return canonical(filename.split("-", 1)[0])
    stem = filename.removesuffix(".tar.gz").removesuffix(".zip")
    return canonical(stem.rsplit("-", 1)[0])


def _version_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return filename.split("-")[1]
    return filename.removesuffix(".tar.gz").removesuffix(".zip").rsplit("-", 1)[1]


class PackageIndex:
    """A PEP 503 simple repository of the files in a directory, over HTTP on the host's loopback.

    https://peps.python.org/pep-0503/: /simple/ lists projects, /simple/<normalized>/ links each file with a
    #sha256= fragment. `requested` records the paths asked for (the build used this index, not another)."""

    def __init__(self, files: Path) -> None:
        self.files = files
        self.requested: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._pages: dict[str, bytes] = self._render()

    def _render(self) -> dict[str, bytes]:
        by_project: dict[str, list[Path]] = {}
        for path in sorted(self.files.iterdir()):
            if path.name.endswith((".whl", ".tar.gz", ".zip")):
                by_project.setdefault(project_of(path.name), []).append(path)
        pages = {"/simple/": _html("Simple index", [(f"{p}/", p) for p in sorted(by_project)])}
        for project, paths in by_project.items():
            links = [(f"../../files/{p.name}#sha256={hashlib.sha256(p.read_bytes()).hexdigest()}", p.name)
                     for p in paths]  # fmt: skip
            pages[f"/simple/{project}/"] = _html(f"Links for {project}", links)
        return pages

    @property
    def port(self) -> int:
        assert self._server is not None, "the index is not serving"
        return int(self._server.server_address[1])

    @property
    def guest_url(self) -> str:
        return f"http://{HOST_FROM_GUEST}:{self.port}/simple/"

    @property
    def pip_conf(self) -> str:
        """/etc/pip.conf for the guest's builds: this index only; plain HTTP to the host, so it is trusted."""
        return f"[global]\nindex-url = {self.guest_url}\ntrusted-host = {HOST_FROM_GUEST}:{self.port}\n"

    def __enter__(self) -> PackageIndex:
        index = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                index.requested.append(self.path)
                page = index._pages.get(self.path if self.path.endswith("/") else self.path + "/")
                if page is None:
                    super().do_GET()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def translate_path(self, path: str) -> str:
                name = path.split("?", 1)[0].split("#", 1)[0]
                if name.startswith("/files/") and "/" not in name[len("/files/"):]:
                    return str(index.files / name[len("/files/"):])
                return str(index.files / ".nothing-here")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(self.files)))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _html(title: str, links: list[tuple[str, str]]) -> bytes:
    body = "\n".join(f'<a href="{href}">{text}</a><br/>' for href, text in links)
    return f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n{body}\n</body></html>\n".encode()


def build_context(repo_root: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """The repository as a docker build context (tar): git's tracked files and the untracked ones it does not
    ignore, as they are in the working tree, plus `extra` (relative path -> content). .dockerignore is left to
    docker in the guest."""
    listed = subprocess.run(
        ["git", "-C", str(repo_root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True, timeout=60,
    ).stdout.decode().split("\0")  # fmt: skip
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for relative in sorted(filter(None, listed)):
            path = repo_root / relative
            if path.is_file() or path.is_symlink():  # a deleted tracked file is not in the working tree
                tar.add(str(path), arcname=relative, recursive=False)
        for relative, content in (extra or {}).items():
            info = tarfile.TarInfo(relative)
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def base_image_seed(files: Path, index: PackageIndex) -> dict[str, bytes]:
    """The stand-in base image's build directory (seed path -> content): its Dockerfile, /etc/pip.conf pointing
    at the index, and the wheels of BASE_IMAGE_DISTRIBUTIONS."""
    seed = {"pipe-image/base/Dockerfile": BASE_DOCKERFILE.read_bytes(),
            "pipe-image/base/pip.conf": index.pip_conf.encode()}  # fmt: skip
    for requirement in BASE_IMAGE_DISTRIBUTIONS:
        name, version = requirement.split("==")
        [wheel] = [p for p in files.glob("*.whl") if project_of(p.name) == canonical(name)
                   and _version_of(p.name) == version]  # fmt: skip
        seed[f"pipe-image/base/wheels/{wheel.name}"] = wheel.read_bytes()
    return seed


def base_image_tag(dockerfile: Path) -> str:
    """The FROM image of the repository's Dockerfile (python:3.11.X-slim), the tag the stand-in takes."""
    found = re.search(r"^FROM\s+(\S+)", dockerfile.read_text(encoding="utf-8"), re.MULTILINE)
    assert found, f"no FROM line in {dockerfile}"
    return found.group(1)


@contextmanager
def serving(repo_root: Path, log: Callable[[str], None] = print) -> Iterator[PackageIndex]:
    """ensure_distributions + PackageIndex, for a test's with-block."""
    with PackageIndex(ensure_distributions(repo_root, log)) as index:
        yield index

