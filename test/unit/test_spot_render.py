"""The boot script with spot recovery: the agent's checkpoint settings in agent.json (an unquoted heredoc, so
nothing the shell would expand may be in them), the checkpoint code only then, and the plan carries them."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from pipe.bootstrap.render import BootConfig, render_startup_script, render_user_data

CHECKPOINT = {"store": {"cloud": "aws", "bucket": "cml-checkpoints-1-ab", "region": "us-west-1", "endpoint": ""},
              "base": "1111/0123abc/checkpoints", "path": "checkpoints", "interval_s": 300}  # fmt: skip


def cfg(gpu: bool = False, **kw: object) -> BootConfig:
    return BootConfig(cloud="aws", account_uuid="{11111111-2222-3333-4444-555555555555}",
                      repository_uuid="{21111111-2222-3333-4444-555555555555}",
                      runner_uuid="{0a1b2c3d-1111-2222-3333-444455556666}", runner_name="cml-abcdefghij",
                      oauth_client_id="Zk2CLIENTidX", oauth_client_secret="s3cr3t-OAuth_Value.9", idle_timeout_s=300,
                      max_lifetime_s=3600, single=False, gpu=gpu, **kw)  # type: ignore[arg-type]  # fmt: skip


def test_the_agent_gets_the_checkpoint_settings() -> None:
    script = render_startup_script(cfg(checkpoint=CHECKPOINT))
    agent_json = json.loads(re.search(r"<<CML_AGENT_JSON\n(.*?)\nCML_AGENT_JSON", script, re.S).group(1))  # type: ignore[union-attr]
    assert agent_json["checkpoint"] == CHECKPOINT
    assert "checkpoint" not in render_startup_script(cfg())


@pytest.mark.parametrize("bad", ["$(reboot)", "`id`", "a;b", "x\\y"])
def test_nothing_the_shell_expands_reaches_the_heredoc(bad: str) -> None:
    with pytest.raises(ValueError, match="checkpoint settings hold a character"):
        render_startup_script(cfg(checkpoint={**CHECKPOINT, "base": bad}))


def test_it_still_fits_aws_user_data() -> None:
    data = render_user_data(cfg(checkpoint=CHECKPOINT, gpu=True))
    raw = gzip.decompress(data) if isinstance(data, bytes) else data.encode()
    # a GPU spot-recovery VM's script is gzipped, its programs as code in it (gzip of base64 of gzip was 18 KB)
    assert len(data) <= 16384 and b"class Saver" in raw
