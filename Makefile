# The two commands a newcomer needs (see README.md): `make demo` and `make test`.
# Both create the virtual environment on first use; VENV=path picks another one (.ci/run does).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo dry-run test test-fast test-shuffled vm-test vm-container-test vm-long-test vm-images lint readme bench mutate clean-venv

$(STAMP): requirements.txt requirements-test.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-test.txt
	touch $(STAMP)

# The pipe's main job, locally and offline: the example pipeline (examples/seeds) against a local
# Bitbucket and a local cloud. DEMO_ARGS="--cloud gcp" (or azure, kubernetes) picks another cloud.
demo: $(STAMP)
	$(BIN)/python demo/run.py $(DEMO_ARGS)

# Runner mode as a DRY_RUN: prints its plan and creates nothing. The Bitbucket URL points at a closed
# loopback port, and no AWS credentials are given (none of yours from the environment, ~/.aws or an instance
# role), so the one call DRY_RUN makes to check them (sts GetCallerIdentity) fails at once and says so: the
# run still exits 0. Run the pipe with DRY_RUN and your own credentials to check those.

dry-run: $(STAMP)
	@echo "make dry-run: AWS credentials are left out on purpose; the credentials check below says they do not work."
	@env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE -u AWS_OIDC_ROLE_ARN \
	  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
	  COMMAND=runner DRY_RUN=true CLOUD=aws CLOUD_REGION=us-west CLOUD_TYPE=m CLOUD_GPU=t4 \
	  LABELS=cml.runner IDLE_TIMEOUT=5min \
	  BITBUCKET_WORKSPACE=demo-workspace BITBUCKET_REPO_SLUG=demo-repo BITBUCKET_BRANCH=main \
	  BITBUCKET_COMMIT=0123456789abcdef0123456789abcdef01234567 BITBUCKET_BUILD_NUMBER=1 \
	  BITBUCKET_ACCESS_TOKEN=demo-token-not-real BITBUCKET_API_URL=http://127.0.0.1:9/2.0 \
	  $(BIN)/python -m pipe

# The tests on real VMs (marker vm, test/support/fakes/vm) run last, their images building in the background
# meanwhile; they mostly wait on their guests, so three workers, fed one test at a time, share two cores.
# All but the longest VM tests (vm_container: the pipe's own image built in a VM; vm_bake: a bake on a real
# guest; vm_long: docker.io installed at boot, a long step then idle, a reset): too long for .ci/run's 30-minute
# budget on 2 cores, see vm-long-test.
# It ends with one line per group (unit, adapters, e2e, vm: test/support/group_summary.py).
TEST_MARKS := not vm_container and not vm_bake and not vm_long
test: $(STAMP)
	$(BIN)/python -m pytest -n 3 --maxschedchunk=1 -m "$(TEST_MARKS)" $(PYTEST_ARGS)

# The inner loop, a few minutes: no test on a real VM and no end-to-end test over 10 s (marker slow).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not vm and not slow" $(PYTEST_ARGS)

# `make test` in a random order (pytest-randomly; the seed is printed, PYTEST_ARGS=--randomly-seed=N replays
# it): tests that pass only in the order they are written in show up here.
test-shuffled: $(STAMP)
	$(BIN)/python -m pytest -p randomly -n 3 --maxschedchunk=1 -m "$(TEST_MARKS)" $(PYTEST_ARGS)

# Only the tests on real booted VMs (test/support/fakes/vm; the images are built on first use, about 5 minutes).
vm-test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --maxschedchunk=1 -m vm

# The pipe's own container image, built from the Dockerfile and run as Bitbucket runs a pipe, inside a VM
# (test/e2e/test_vm_container.py): its own CI step (bitbucket-pipelines.yml), beside .ci/run.
vm-container-test: $(STAMP)
	$(BIN)/python -m pytest -m vm_container

# The VM tests `make test` leaves out (scenario 8; the bake on a real guest, and a runner booted from the baked
# disk): CI's step of its own.
vm-long-test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --maxschedchunk=1 -m "vm_container or vm_bake or vm_long"

# Build (or find in the cache) the test VM images alone.
vm-images: $(STAMP)
	PYTHONPATH=.:test/support $(BIN)/python -m fakes.vm.image

# Every performance figure next to its goal and baseline (docs/performance.md).
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Mutation testing of the code that decides, cleans up and protects (mutation/targets.toml): slow, one
# module after another, not part of CI. MODULE=pipe/log.py (or its end, e.g. MODULE=log.py) for one.
MUTATE_STAMP := $(VENV)/.installed-mutate
$(MUTATE_STAMP): $(STAMP) requirements-mutate.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-mutate.txt
	touch $(MUTATE_STAMP)

mutate: $(MUTATE_STAMP)
	$(BIN)/python tools/mutate.py $(if $(MODULE),--module "$(MODULE)") $(MUTATE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/python tools/readme_variables.py --check

readme: $(STAMP)
	$(BIN)/python tools/readme_variables.py

clean-venv:
	rm -rf $(VENV)
