"""DVC's files as pipe/formats/dvc.py reads them, in the formats dvc.org documents (project-structure pages)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipe.formats import dvc

LOCK = """\
schema: '2.0'
stages:
  train:
    cmd: python train.py
    deps:
    - path: data/train.csv
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
      size: 10
    outs:
    - path: model.pkl
      hash: md5
      md5: 11111111111111111111111111111111
      size: 5
    - path: eval/metrics.json
      hash: md5
      md5: 22222222222222222222222222222222
      size: 7
  evaluate@fold1:
    cmd: python eval.py 1
    outs:
    - path: scores.json
      md5: 33333333333333333333333333333333
"""

STAGES = """\
stages:
  train:
    wdir: src
    cmd: python train.py
    outs:
      - model.pkl
    metrics:
      - eval/metrics.json:
          cache: false
  evaluate:
    foreach: [fold1]
    do:
      cmd: python eval.py ${item}
      outs:
        - scores.json
"""


def test_a_lock_s_outputs_are_relative_to_the_stage_wdir_and_carry_dvc_yaml_s_cache_flag() -> None:
    outs = {o.path: o for o in dvc.parse_lock(LOCK, "ml/dvc.lock", STAGES)}

    assert set(outs) == {"ml/src/model.pkl", "ml/src/eval/metrics.json", "ml/scores.json"}
    assert outs["ml/src/model.pkl"].cache and not outs["ml/src/eval/metrics.json"].cache
    assert (outs["ml/src/model.pkl"].stage, outs["ml/src/model.pkl"].legacy) == ("train", False)
    assert outs["ml/scores.json"].legacy  # no `hash: md5`: a DVC 2.x hash
    assert outs["ml/scores.json"].recorder() == "ml/dvc.lock, stage evaluate@fold1"
    assert "data/train.csv" not in {o.path for o in outs.values()}  # deps are not outputs


def test_a_dvc_file_covers_the_files_of_its_directory_output() -> None:
    [out] = dvc.parse_dvcfile("outs:\n- md5: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.dir\n  path: data\n", "sets/data.dvc")

    assert out.path == "sets/data" and out.is_dir
    assert dvc.covering([out], "sets/data/a/b.csv") is out
    assert dvc.covering([out], "sets/database.csv") is None


def test_dvc_2_text_hashes_read_crlf_as_lf_and_binary_files_are_hashed_as_they_are(tmp_path: Path) -> None:
    text = tmp_path / "labels.csv"
    text.write_bytes(b"a,b\r\n1,2\r\n")
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x00\r\n\x01")

    assert hashlib.md5(b"a,b\n1,2\n").hexdigest() in dvc.file_md5(text, legacy=True)  # noqa: S324
    assert hashlib.md5(b"a,b\n1,2\n").hexdigest() not in dvc.file_md5(text, legacy=False)  # noqa: S324
    assert dvc.file_md5(binary, legacy=True) == {hashlib.md5(b"\x00\r\n\x01").hexdigest()}  # noqa: S324


@pytest.mark.parametrize(
    ("text", "why"),
    [("stages: [unclosed", "not valid YAML"), ("just: text\n", "no `stages:` mapping"), ("- 1\n", "no `stages:`")],
)
def test_a_file_that_is_not_a_dvc_lock_is_one_line_naming_it(text: str, why: str) -> None:
    with pytest.raises(dvc.DvcFileError) as caught:
        dvc.parse_lock(text, "dvc.lock")
    assert str(caught.value).startswith("dvc.lock: ") and why in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_cache_object_is_found_in_dvc_3_then_dvc_2_layout_and_never_for_a_non_hash(tmp_path: Path) -> None:
    digest = "ab" + "c" * 30
    old = tmp_path / ".dvc" / "cache" / "ab" / ("c" * 30)
    old.parent.mkdir(parents=True)
    old.write_text("{}")
    assert dvc.cache_object(tmp_path, digest) == old
    new = tmp_path / ".dvc" / "cache" / "files" / "md5" / "ab" / ("c" * 30)
    new.parent.mkdir(parents=True)
    new.write_text("{}")
    assert dvc.cache_object(tmp_path, digest) == new
    assert dvc.cache_object(tmp_path, "../../etc/passwd" + "0" * 16) is None
