#!/usr/bin/env bash
# Here, with network: fetch the onnxruntime-gpu wheel (~255 MB) and split it into parts that fit
# what travels with one device call (64 MiB), under .gpu-wheel/ (ignored by git).
#   bash benchmarks/gpu/prepare.sh [VERSION]
# Then, one device call per part (a warm machine keeps ignored files between calls):
#   run(carry=[".gpu-wheel/part-aa", ".gpu-wheel/SHA256SUMS"], command="bash benchmarks/gpu/stash.sh")
#   ... part-ab, part-ac, part-ad, part-ae ...
# and last: run(command="bash benchmarks/gpu/check.sh", timeout_s=...)
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:-1.31.1}
rm -rf .gpu-wheel && mkdir -p .gpu-wheel
python -m pip download -q --no-deps "onnxruntime-gpu==$version" -d .gpu-wheel
wheel=$(ls .gpu-wheel/*.whl)
(cd .gpu-wheel && sha256sum "$(basename "$wheel")" > SHA256SUMS && basename "$wheel" > NAME)
split -b 60M "$wheel" .gpu-wheel/part-
rm "$wheel"
ls -la .gpu-wheel
