"""The data step: scikit-learn's handwritten digits, split 80/20 with every digit in both parts.

Writes data/train.npz and data/test.npz (arrays x, y) relative to the working directory; train.py reads
them. The digits dataset ships with scikit-learn: nothing is downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=42, help="random seed for the split")
    parser.add_argument("--out", type=Path, default=Path("data"), help="where to write the split (default data)")
    args = parser.parse_args(argv)

    digits = load_digits()  # 1,797 8x8 images
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, random_state=args.seed, stratify=digits.target
    )
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "train.npz", x=x_train, y=y_train)
    np.savez_compressed(args.out / "test.npz", x=x_test, y=y_test)
    print(f"Wrote {len(y_train)} training and {len(y_test)} test images to {args.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
