# Test plumbing (scenario 8): the stand-in for the pipe's base image (python:3.11.X-slim), built inside the
# test VM under that exact tag, so the repository's Dockerfile builds unchanged. Docker Hub is out of reach.
#
# What it shares with the official image (docker-library/python, 3.11/slim-bookworm/Dockerfile): Debian
# bookworm, CPython 3.11 as `python3`/`python` in /usr/local/bin first on PATH, pip and its site-packages
# under /usr/local/lib/python3.11/site-packages, setuptools 70.1.0 and wheel, LANG=C.UTF-8, CMD ["python3"].
# How it differs: Debian's python3 3.11.2 (not 3.11.X built from source) behind a venv at /usr/local, on the
# runner stand-in's trimmed Debian root (test/support/fakes/vm/image.py: no perl, docs, zoneinfo, gconv, nor
# python's test/idlelib/tkinter/lib2to3/ensurepip), and pip reads /etc/pip.conf: the local package index on
# the host's loopback (10.0.2.2), because PyPI over HTTPS is out of reach from the guest.
ARG RUNNER_IMAGE
FROM ${RUNNER_IMAGE}
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHON_VERSION=3.11
COPY pip.conf /etc/pip.conf
COPY wheels/ /tmp/wheels/
# pip runs from its own wheel (a zip: python runs the pip package inside it) to install itself and the rest;
# the runner stand-in has no ensurepip. No bytecode, as in the official image (it deletes /usr/local's *.pyc
# and installs setuptools and wheel with --no-compile).
RUN set -- /tmp/wheels/pip-*.whl \
 && python3 -m venv --without-pip /usr/local \
 && /usr/local/bin/python3 "$1/pip" install --no-cache-dir --no-compile --no-index /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels
CMD ["python3"]
