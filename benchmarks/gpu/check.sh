#!/usr/bin/env bash
# On a machine with an NVIDIA GPU, CUDA 13 libraries, the CPU onnxruntime and no network:
# reassemble the onnxruntime-gpu wheel brought in parts (see prepare.sh / stash.sh), install it in a
# virtual environment over the machine's packages (the project with --no-deps), then run every
# `cuda`-marked test, the provider tests and the layer and model benchmarks on CUDA. Everything
# lands in one folder: $OUT (the device tool's) or ./gpu-results.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-gpu-results}
mkdir -p "$out"
parts=${GPU_WHEEL_PARTS:-/tmp/gpu-wheel}
exec > >(tee "$out/check.log") 2>&1
echo "== machine"; nvidia-smi || true; python --version
name=$(cat "$parts/NAME")
cat "$parts"/part-* > "/tmp/$name"
(cd /tmp && sha256sum -c "$parts/SHA256SUMS") || { echo "wheel parts are incomplete"; exit 2; }
python -m venv --system-site-packages /tmp/gpu-venv
/tmp/gpu-venv/bin/python -m pip install -q --no-deps --no-index "/tmp/$name"
/tmp/gpu-venv/bin/python -m pip install -q --no-deps --no-index --no-build-isolation -e . \
  || /tmp/gpu-venv/bin/python -m pip install -q --no-deps --no-index -e .
py=/tmp/gpu-venv/bin/python
$py -c "import onnxruntime as ort; print('onnxruntime', ort.__version__, ort.__file__, ort.get_available_providers())"
$py - <<'PY'
from onnxlayers.runtime.providers import load_failure
print("CUDA provider library:", load_failure("CUDAExecutionProvider") or "loads")
PY
echo "== cuda and provider tests"
$py -m pytest -q -p no:cacheprovider -rs -m "cuda or providers" tests \
  --junitxml="$out/cuda-tests.xml" | tail -n 40
echo "== layer benchmark on CUDA"
ONNXLAYERS_PROVIDER=cuda $py benchmarks/bench_layers.py --json > "$out/bench_layers_cuda.json" || true
echo "== model benchmark (CPU reference, same machine)"
$py benchmarks/bench_models.py --only resnet18 mobilenet_v2 --batch 1 8 --json \
  > "$out/bench_models.json" || true
ls -la "$out"
