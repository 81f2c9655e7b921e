"""Train a small classifier and write what the pipeline keeps: the model (DVC), the metrics (git), a plot, a report.

The DVC stage `train` (dvc.yaml) runs this with `dvc repro`. Python's standard library only, so the example
shows the DVC flow, not a framework: two classes of points drawn around two centres, a nearest-centroid model.

Outputs, relative to the working directory (the clone directory in Bitbucket Pipelines):

    model.pkl      the trained model: DVC's cache and remote (`dvc push`), its md5 in dvc.lock
    metrics.json   accuracy, per-class recall (`cache: false`: committed to git by PR mode)
    confusion.png  the confusion matrix on the test split (a DVC plot, shown in the report)
    report.md      the training report: the PR's description and a comment on it
"""

from __future__ import annotations

import json
import pickle
import random
import struct
import zlib
from pathlib import Path

import yaml  # DVC depends on PyYAML: reading params.yaml costs nothing more


def make_data(rng: random.Random, samples: int, features: int, noise: float) -> list[tuple[list[float], int]]:
    centres = [[0.0] * features, [1.5] * features]
    labels = [rng.randrange(2) for _ in range(samples)]
    return [([rng.gauss(c, noise) for c in centres[label]], label) for label in labels]


def fit(train: list[tuple[list[float], int]]) -> list[list[float]]:
    centroids = []
    for label in (0, 1):
        rows = [x for x, y in train if y == label]
        centroids.append([sum(col) / len(rows) for col in zip(*rows, strict=True)])
    return centroids


def predict(centroids: list[list[float]], x: list[float]) -> int:
    return min((0, 1), key=lambda k: sum((a - b) ** 2 for a, b in zip(x, centroids[k], strict=True)))


def png(matrix: list[list[int]], cell: int = 80) -> bytes:
    """The confusion matrix as a grey-scale PNG: darker is more (a 2x2 heat map, cell pixels a side)."""
    top = max(max(row) for row in matrix) or 1
    rows = b""
    for r in range(2 * cell):
        shades = bytes(255 - int(200 * matrix[r // cell][c // cell] / top) for c in range(2 * cell))
        rows += b"\x00" + shades

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 2 * cell, 2 * cell, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())["train"]
    rng = random.Random(params["seed"])  # noqa: S311  # reproducible data, not a secret
    data = make_data(rng, params["samples"], params["features"], params["noise"])
    cut = int(len(data) * 0.8)
    train, test = data[:cut], data[cut:]
    centroids = fit(train)
    matrix = [[0, 0], [0, 0]]
    for x, y in test:
        matrix[y][predict(centroids, x)] += 1
    accuracy = (matrix[0][0] + matrix[1][1]) / len(test)
    recall = [matrix[k][k] / max(1, sum(matrix[k])) for k in (0, 1)]
    metrics = {"accuracy": round(accuracy, 4), "recall": {f"class_{k}": round(recall[k], 4) for k in (0, 1)}}

    Path("model.pkl").write_bytes(pickle.dumps({"centroids": centroids, "params": params}))
    Path("metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    Path("confusion.png").write_bytes(png(matrix))
    Path("report.md").write_text(
        "# Training report\n\n"
        f"Nearest-centroid model on {len(train)} points, tested on {len(test)}: accuracy {accuracy:.3f}.\n\n"
        "The model went to the DVC remote (`dvc push`); this PR carries its pointer in `dvc.lock`.\n\n"
        "![Confusion matrix](confusion.png)\n"
    )
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
