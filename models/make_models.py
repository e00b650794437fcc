"""Generate the example models in this folder: ``python models/make_models.py [--check]``.

The files are never edited by hand: ``onnxlayers.builder.zoo`` defines them, this script writes
them, and ``--check`` (run by CI) fails when the committed files differ from what the script
writes now.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from onnxlayers.builder.zoo import ZOO, write_zoo

HERE = Path(__file__).resolve().parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--check",
        action="store_true",
        help="compare with the committed files instead of writing them",
    )
    p.add_argument("--output-dir", type=Path, default=HERE)
    args = p.parse_args()
    if not args.check:
        for path in write_zoo(args.output_dir):
            print(f"wrote {path} ({path.stat().st_size:,} bytes)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p.read_bytes() for p in write_zoo(tmp)}
    stale = [
        n
        for n in sorted(fresh)
        if not (args.output_dir / n).is_file() or (args.output_dir / n).read_bytes() != fresh[n]
    ]
    extra = sorted(p.name for p in args.output_dir.glob("*.onnx") if p.name not in fresh)
    if stale or extra:
        print(
            f"models out of sync with the script: stale {stale}, not made by it {extra}; "
            "run python models/make_models.py",
            file=sys.stderr,
        )
        return 1
    print(f"{len(ZOO)} models in sync with the script")
    return 0


if __name__ == "__main__":
    sys.exit(main())
