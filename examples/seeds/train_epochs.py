"""The seeds training in epochs, for spot recovery: one checkpoint per epoch, resumed from the newest.

A linear classifier (scikit-learn's SGDClassifier) learns the digits one epoch at a time (partial_fit). After
each epoch it writes checkpoints/epoch-<n>.joblib: to a temporary name first, then renamed, so the copy the
runner's instance takes of checkpoints/ never sees half a file. At start it loads the newest checkpoint there
(what `COMMAND: restore` put back after an interruption) and goes on from the epoch after it, printing which.
It ends as train.py does: model/, metrics.json and report.md for the report and the pull request.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, f1_score

EPOCH_FILE = re.compile(r"epoch-(\d+)\.joblib")


def newest(folder: Path) -> tuple[int, SGDClassifier | None]:
    epochs = sorted(int(m.group(1)) for p in folder.glob("epoch-*.joblib") if (m := EPOCH_FILE.fullmatch(p.name)))
    if not epochs:
        return 0, None
    return epochs[-1], joblib.load(folder / f"epoch-{epochs[-1]}.joblib")


def save(model: SGDClassifier, folder: Path, epoch: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".epoch-{epoch}.joblib.tmp"
    joblib.dump(model, temporary)
    os.replace(temporary, folder / f"epoch-{epoch}.joblib")  # atomic: a copy sees the old file or the new one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seconds-per-epoch", type=float, default=0.0, help="pause per epoch (demo, tests)")
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)

    train, test = np.load(args.data / "train.npz"), np.load(args.data / "test.npz")
    done, model = newest(args.checkpoints)
    if model is None:
        print("No checkpoint: training from epoch 1")
        model = SGDClassifier(loss="log_loss", random_state=42)
    else:
        print(f"Resumed from the checkpoint of epoch {done}: training from epoch {done + 1}")
    classes = np.unique(train["y"])
    for epoch in range(done + 1, args.epochs + 1):
        order = np.random.default_rng(epoch).permutation(len(train["y"]))
        model.partial_fit(train["x"][order], train["y"][order], classes=classes)
        save(model, args.checkpoints, epoch)
        print(f"epoch {epoch}/{args.epochs}: accuracy {accuracy_score(test['y'], model.predict(test['x'])):.4f}")
        time.sleep(args.seconds_per_epoch)

    predicted = model.predict(test["x"])
    metrics = {"accuracy": round(float(accuracy_score(test["y"], predicted)), 4),
               "f1_macro": round(float(f1_score(test["y"], predicted, average="macro")), 4),
               "epochs": args.epochs, "resumed_from_epoch": done}  # fmt: skip
    (args.out / "model").mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.out / "model" / "sgd.joblib", compress=3)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    resumed = f"resumed from epoch {done} after an interruption" if done else "no interruption"
    (args.out / "report.md").write_text(
        f"## Digits, {args.epochs} epochs\n\nAccuracy {metrics['accuracy']:.1%}, F1 {metrics['f1_macro']:.3f}; "
        f"{resumed} (build {os.environ.get('BITBUCKET_BUILD_NUMBER', 'local')}).\n",
        encoding="utf-8",
    )
    print(f"Trained to epoch {args.epochs} ({resumed}): accuracy {metrics['accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
