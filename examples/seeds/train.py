"""Train a random forest on scikit-learn's handwritten digits and write what the pipeline publishes.

Outputs, relative to the working directory (the clone directory in Bitbucket Pipelines):

    model/random_forest.joblib   the trained model (the PR commits it)
    model/confusion_matrix.png   the confusion matrix on the test set (the report shows it)
    metrics.json                 accuracy, F1, precision, recall (a Code Insights report and a table)
    report.md                    the training report: the PR's description and a comment on it

It reads the split that data.py (the data step) wrote to data/train.npz and data/test.npz.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import joblib
import matplotlib

matplotlib.use("Agg")  # no display on a runner

import matplotlib.pyplot as plt  # after choosing the backend
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-estimators", type=int, default=100, help="trees in the forest (default 100)")
    parser.add_argument("--seed", type=int, default=42, help="random seed for the forest")
    parser.add_argument("--data", type=Path, default=Path("data"), help="the data step's split (default data)")
    parser.add_argument("--out", type=Path, default=Path("."), help="where to write the outputs (default .)")
    args = parser.parse_args(argv)

    train, test = np.load(args.data / "train.npz"), np.load(args.data / "test.npz")
    x_train, y_train, x_test, y_test = train["x"], train["y"], test["x"], test["y"]

    started = time.monotonic()
    model = RandomForestClassifier(n_estimators=args.n_estimators, random_state=args.seed, n_jobs=1)
    model.fit(x_train, y_train)
    train_seconds = time.monotonic() - started
    predicted = model.predict(x_test)

    metrics = {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
        "f1_macro": round(float(f1_score(y_test, predicted, average="macro")), 4),
        "precision_macro": round(float(precision_score(y_test, predicted, average="macro")), 4),
        "recall_macro": round(float(recall_score(y_test, predicted, average="macro")), 4),
        "train_samples": len(x_train),
        "test_samples": len(x_test),
    }

    out: Path = args.out
    (out / "model").mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model" / "random_forest.joblib", compress=3)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")

    fig, ax = plt.subplots(figsize=(6, 6), dpi=80)
    ConfusionMatrixDisplay.from_predictions(y_test, predicted, ax=ax, colorbar=False, cmap="Blues")
    ax.set_title(f"Random forest on digits: accuracy {metrics['accuracy']:.1%}")
    fig.tight_layout()
    fig.savefig(out / "model" / "confusion_matrix.png")
    plt.close(fig)

    (out / "report.md").write_text(report(metrics, args.n_estimators, train_seconds), encoding="utf-8")
    print(
        f"Trained {args.n_estimators} trees in {train_seconds:.1f}s: accuracy {metrics['accuracy']:.4f}, "
        f"F1 {metrics['f1_macro']:.4f}; wrote model/random_forest.joblib, model/confusion_matrix.png, "
        "metrics.json, report.md"
    )
    return 0


def report(metrics: dict[str, float | int], n_estimators: int, train_seconds: float) -> str:
    """The markdown report. Image paths are relative to the report; the pipe uploads them."""
    return (
        "# Training report: random forest on digits\n\n"
        f"A random forest of {n_estimators} trees, trained in {train_seconds:.1f}s on "
        f"{metrics['train_samples']:,} images of handwritten digits (scikit-learn's `load_digits`) and "
        f"tested on {metrics['test_samples']:,} held-out images.\n\n"
        f"**Accuracy {metrics['accuracy']:.2%}**, macro F1 {metrics['f1_macro']:.4f}. "
        "All metrics, compared with the target branch, are in the table below.\n\n"
        "## Confusion matrix\n\n"
        "![Confusion matrix](model/confusion_matrix.png)\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
