"""On a real booted VM (issue 15, scenario 8): the pipe's own container image, built from the repository's
Dockerfile and run the way Bitbucket runs a pipe. The only place the image is built before a release.

This machine has no Docker engine; the test VM's image has one (test/support/fakes/vm). Docker Hub is out of reach, so
the Dockerfile's base image (python:3.11.X-slim) is stood in by a local image under that exact tag: Debian
bookworm's python3 3.11 behind a venv at /usr/local with pip 24.0, setuptools 70.1.0 and wheel, as the
official image has them (test/support/fakes/vm/pipe_image/base.Dockerfile says how it differs: Debian's 3.11.2, not
3.11.X built from source, on a trimmed Debian root). PyPI over HTTPS is out of reach from the guest too: the
distributions are downloaded on the host (cached by requirements.txt's hash) and served from a PEP 503 index
on the host's loopback, named in the stand-in's /etc/pip.conf; the Dockerfile is built unchanged.

The image then runs as Bitbucket runs a pipe (its `docker run` in a step's log, reproduced by
github.com/mathieu-lemay/pipeline-runner, pipeline_runner/models.py `Pipe.as_cmd`): the clone mounted at
/opt/atlassian/pipelines/agent/build and the working directory, the step's BITBUCKET_* variables and the
pipe's own variables as --env, BITBUCKET_PIPE_STORAGE_DIR / BITBUCKET_PIPE_SHARED_STORAGE_DIR under the clone's
.bitbucket/pipelines/generated/pipeline/pipes (support.atlassian.com/bitbucket-cloud/docs/
advanced-techniques-for-writing-pipes/). The clone holds a folder named pipe/ that must not shadow the pipe.
One difference: the local Bitbucket is on the host's loopback, and the pipe accepts plain http:// only for a
loopback host, so in report mode the pipe's container joins the network namespace of a relay container
(pipe_image/relay.py) that forwards its 127.0.0.1:PORT to the host.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from fakes.bitbucket import FakeBitbucket
from fakes.vm.image import Images
from fakes.vm.pipe_image.build import RELAY, base_image_seed, base_image_tag, build_context, serving
from fakes.vm.qemu import Vm
from fixtures_pipe import BASE_ENV, REPO_ROOT, pipe_env, strip_ansi

from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE

pytestmark = [pytest.mark.vm, pytest.mark.vm_container]  # `make vm-container-test`; not in `make test`

BUILD_DIR = "/opt/atlassian/pipelines/agent/build"  # the clone, in every Bitbucket step
SHARED_STORAGE = f"{BUILD_DIR}/.bitbucket/pipelines/generated/pipeline/pipes"
PIPE_STORAGE = f"{SHARED_STORAGE}/cml/cml-runner"
IMAGE = "cml-runner-pipe:scenario-8"
SEED = "/run/cml-test/seed/pipe-image"
READY = "#!/bin/bash\necho 'cml-test: ready for the image build'\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"confusion-matrix" * 4
# In the context as a developer's tree may have it; the Dockerfile's .dockerignore keeps it out of the image.
PLANTED = "pipe/__pycache__/planted.cpython-311.pyc"


def log(line: str) -> None:
    print(f"[scenario 8] {line}", file=sys.stderr, flush=True)


def in_guest(vm: Vm, what: str, command: str, timeout: float) -> str:
    """command in the guest, asserted to succeed; its time is logged (figures under TCG: upper bounds)."""
    started = time.monotonic()
    code, output = vm.run(command, timeout=timeout)
    log(f"{what}: {time.monotonic() - started:.0f} s")
    assert code == 0, f"{what} failed (exit {code}):\n{output[-4000:]}{vm.tail(20)}"
    return output


def clone_tar() -> bytes:
    """The user's clone: a report with an image, and a folder named pipe/ that must not shadow the pipe."""
    files = {
        "pipe/__init__.py": b"raise SystemExit('shadowed: the clone\\'s pipe/ was imported')\n",
        "report.md": b"# Training report\n\nAccuracy went up.\n\n![cm](plots/cm.png)\n",
        "plots/cm.png": PNG,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def docker_run(env: dict[str, str], *, network: str | None = None) -> str:
    """The image run as Bitbucket runs a pipe: clone mounted and the working directory, variables as --env."""
    argv = [
        "docker", "run", "--rm", f"--volume={BUILD_DIR}:{BUILD_DIR}", f"--workdir={BUILD_DIR}",
        "--label=org.bitbucket.pipelines.system=true",
        *([f"--network={network}"] if network else []),
        *(f"--env={name}={value}" for name, value in env.items()), IMAGE,
    ]  # fmt: skip
    return shlex.join(argv) + "; echo \"exit=$?\""


def step_env(bitbucket: FakeBitbucket) -> dict[str, str]:
    """What Bitbucket gives every pipe: the step's variables (here aimed at the local Bitbucket)."""
    return {
        **BASE_ENV, **bitbucket.pipeline_env(), "CI": "true", "BITBUCKET_CLONE_DIR": BUILD_DIR,
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": SHARED_STORAGE, "BITBUCKET_PIPE_STORAGE_DIR": PIPE_STORAGE,
    }  # fmt: skip


def normalized(output: str, clone_dir: str) -> list[str]:
    """Output lines without what differs per run: the runner's random name, the launch's timestamps, the clone."""
    text = strip_ansi(output).replace(clone_dir, "<clone>")
    text = re.sub(r"cml-[0-9a-z]{10}\b", "<name>", text)
    text = re.sub(r'"cml-(created|expires)-at": "\d+"', r'"cml-\1-at": "<t>"', text)
    return [line for line in text.splitlines() if line.strip()]


def test_the_pipes_image_builds_in_a_vm_and_runs_as_bitbucket_runs_a_pipe(
    vm_images: Images, bitbucket: FakeBitbucket, tmp_path: Path
) -> None:
    base_tag = base_image_tag(REPO_ROOT / "Dockerfile")
    context = build_context(REPO_ROOT, extra={PLANTED: b"stale bytecode from a developer's tree"})
    with serving(REPO_ROOT, log) as index:
        seed = {**base_image_seed(index.files, index), "pipe-image/context.tar": context,
                "pipe-image/clone.tar": clone_tar(), "pipe-image/relay.py": RELAY.read_bytes()}  # fmt: skip
        vm = Vm.boot(vm_images, "docker", READY, tmp_path / "vm", name="pipe-image", extra_files=seed,
                     memory_mb=3072)  # fmt: skip
        try:
            vm.wait_for(r"cml-test: ready for the image build", 600)
            in_guest(vm, "the base image stand-in", f"docker build -q --build-arg RUNNER_IMAGE={DEFAULT_RUNNER_IMAGE} "
                     f"-t {base_tag} {SEED}/base", 600)  # fmt: skip
            build = in_guest(vm, "docker build of the repository's Dockerfile",
                             f"mkdir -p /root/context && tar -xf {SEED}/context.tar -C /root/context && "
                             f"docker build -t {IMAGE} /root/context", 1800)  # fmt: skip
            assert "Successfully tagged" in build, build[-3000:]
            assert any(path.startswith("/simple/") for path in index.requested)  # pip used the host's index
            inside = json.loads(in_guest(vm, "the image's files", f"docker run --rm --entrypoint python3 {IMAGE} -c "
                                 + shlex.quote(LIST_FILES), 120))  # fmt: skip
            with tarfile.open(fileobj=io.BytesIO(context)) as sent:
                sources = sorted("/" + n for n in sent.getnames() if n.startswith("pipe/") and n.endswith(".py"))
            assert inside["py"] == sources  # the Dockerfile's COPY pipe /pipe, no more, no less
            assert not inside["planted"]  # .dockerignore honoured: pipe/**/__pycache__ stayed out of the context
            assert inside["top"] == ["README.md", "pipe", "pipe.yml", "requirements.txt"]
            assert inside["python"] == ".".join(base_tag.split(":")[1].split(".")[:2])  # python:3.11.X-slim: 3.11
            in_guest(vm, "the clone", f"mkdir -p {BUILD_DIR} && tar -xf {SEED}/clone.tar -C {BUILD_DIR}", 60)

            dry_run(vm, bitbucket, tmp_path)
            report(vm, bitbucket)
        finally:
            vm.kill()
    assert not vm.alive


# The image's own view: its .py files under /pipe, the planted file, what the Dockerfile put at /, its Python.
LIST_FILES = """
import json, os, sys
py = sorted(os.path.join(d, f) for d, _, fs in os.walk('/pipe') for f in fs if f.endswith('.py'))
top = sorted(n for n in os.listdir('/') if n in ('README.md', 'pipe', 'pipe.yml', 'requirements.txt', 'test'))
print(json.dumps({'py': py, 'planted': os.path.exists('/pipe/__pycache__/planted.cpython-311.pyc'), 'top': top,
                  'python': '%d.%d' % sys.version_info[:2]}))
"""


def dry_run(vm: Vm, bitbucket: FakeBitbucket, tmp_path: Path) -> None:
    """Runner mode, DRY_RUN: the image prints what the pipe prints from the source tree, and creates nothing."""
    pipe_vars = {"COMMAND": "runner", "DRY_RUN": "true", "CLOUD": "aws", "CLOUD_REGION": "us-west", "CLOUD_TYPE": "m",
                 "LABELS": "cml.runner", "IDLE_TIMEOUT": "5min"}  # fmt: skip
    env = {**step_env(bitbucket), **pipe_vars}
    output = in_guest(vm, "the image in runner mode, DRY_RUN", docker_run(env), 300)
    assert output.rstrip().endswith("exit=0"), output
    # The same variables, the source tree's entry point, by path from a clone with its own pipe/ folder.
    clone = tmp_path / "clone"
    (clone / "pipe").mkdir(parents=True)
    (clone / "pipe" / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    host_env: dict[str, str | None] = {name: value.replace(BUILD_DIR, str(clone)) for name, value in env.items()}
    host_env.update(PYTHONPATH=None, PYTHONUNBUFFERED="1")
    host = subprocess.run([sys.executable, str(REPO_ROOT / "pipe" / "pipe.py")], env=pipe_env(host_env, clone),
                          cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
                          check=False)  # fmt: skip  (one stream, unbuffered, as the guest's command channel has it)
    assert host.returncode == 0, host.stdout
    seen = normalized(output.rstrip().removesuffix("exit=0"), BUILD_DIR)
    assert seen == normalized(host.stdout, str(clone))
    assert "✔ DRY_RUN: nothing was created" in seen
    assert env["BITBUCKET_ACCESS_TOKEN"] not in output
    assert bitbucket.repo().runners == {}  # nothing created, from the image or from the source tree


def report(vm: Vm, bitbucket: FakeBitbucket) -> None:
    """Report mode against the local Bitbucket: the comment on the commit, its image in Downloads."""
    port = bitbucket.url.split(":")[2].split("/")[0]
    in_guest(vm, "the relay to the local Bitbucket", f"docker run -d --name bitbucket-relay "
             f"--volume={SEED}/relay.py:/relay.py:ro {base_image_tag(REPO_ROOT / 'Dockerfile')} "
             f"python3 -u /relay.py {port} 10.0.2.2 && for _ in $(seq 120); do "
             "docker logs bitbucket-relay 2>&1 | grep -q '^relay ' && exit 0; sleep 1; done; "
             "docker logs bitbucket-relay; exit 1", 240)  # fmt: skip  (listening before the pipe starts)
    env = {**step_env(bitbucket), "COMMAND": "report", "REPORT_FILE": "report.md"}
    output = in_guest(vm, "the image in report mode", docker_run(env, network="container:bitbucket-relay"), 300)
    assert output.rstrip().endswith("exit=0"), output
    with bitbucket.lock:
        repo = bitbucket.repo()
        comments = [c for c in repo.comments.values() if c.commit is not None]
        downloads = {name: d.content for name, d in repo.downloads.items()}
    [comment] = comments
    assert comment.commit == env["BITBUCKET_COMMIT"] and "# Training report" in comment.raw
    [(name, content)] = downloads.items()
    assert content == PNG and f"/downloads/{name}" in comment.raw  # the image, uploaded and linked
    assert f"#comment-{comment.id}" in output  # what the user sees: where the comment is
    assert env["BITBUCKET_ACCESS_TOKEN"] not in output
