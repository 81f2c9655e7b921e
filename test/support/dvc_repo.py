"""A DVC project written by hand, in the formats dvc.org documents, for tests that do not need the dvc CLI.

What `dvc repro` (DVC 3) leaves after the examples/dvc stage: dvc.yaml with a `train` stage (outs model.pkl,
metrics metrics.json with `cache: false`, plots confusion.png), dvc.lock recording each output's md5 and size
(`hash: md5`), the cached objects under .dvc/cache/files/md5/<2>/<30>, and .dvc/config; `dvc add data`
leaves data.dvc and a `.dir` listing in the cache (dvc.org/doc/user-guide/project-structure).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps:
      - train.py
      - data
    outs:
      - model.pkl
    metrics:
      - metrics.json:
          cache: false
    plots:
      - confusion.png
"""


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324  # DVC's content address


def cache(root: Path, data: bytes, suffix: str = "") -> str:
    """Put an object in the clone's DVC 3 cache; returns its md5 (with the suffix, e.g. `.dir`)."""
    digest = md5(data) + suffix
    path = root / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def out(path: str, data: bytes) -> dict[str, object]:
    return {"path": path, "hash": "md5", "md5": md5(data), "size": len(data)}


def lock(outputs: dict[str, bytes], deps: dict[str, bytes] | None = None) -> str:
    stage: dict[str, object] = {"cmd": "python train.py"}
    if deps:
        stage["deps"] = [out(p, d) for p, d in deps.items()]
    stage["outs"] = [out(p, d) for p, d in outputs.items()]
    return yaml.safe_dump({"schema": "2.0", "stages": {"train": stage}}, sort_keys=False)


def write_project(root: Path, model: bytes, metrics: dict[str, object], *, cache_outputs: bool = True) -> None:
    """The workspace after `dvc repro` of the train stage (and `dvc add data`), cache filled."""
    files = {
        "train.py": b"print('train')\n",
        "model.pkl": model,
        "metrics.json": json.dumps(metrics).encode() + b"\n",
        "confusion.png": b"\x89PNG\r\n\x1a\n" + bytes(range(64)),
        "data/train.csv": b"x,y\n1,2\n",
        "data/test.csv": b"x,y\n3,4\n",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / ".dvc").mkdir(exist_ok=True)
    (root / ".dvc" / "config").write_text(
        "[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://b/dvc\n"
    )
    (root / ".dvc" / "config.local").write_text("['remote \"storage\"']\n    secret_access_key = not-for-git\n")
    outputs = {p: files[p] for p in ("model.pkl", "metrics.json", "confusion.png")}
    (root / "dvc.lock").write_text(lock(outputs, {"train.py": files["train.py"]}))
    listing = [{"md5": md5(files[f"data/{n}"]), "relpath": n} for n in ("test.csv", "train.csv")]
    listing_bytes = json.dumps(listing, separators=(", ", ": ")).encode()
    dir_md5 = md5(listing_bytes) + ".dir"
    (root / "data.dvc").write_text(
        yaml.safe_dump({"outs": [{"md5": dir_md5, "size": 16, "nfiles": 2, "hash": "md5", "path": "data"}]})
    )
    if cache_outputs:
        for data in (*outputs.values(), files["data/train.csv"], files["data/test.csv"]):
            cache(root, data)
        cache(root, listing_bytes, ".dir")
