#!/usr/bin/env bash
# On the device machine: keep the wheel parts that came with this call in /tmp/gpu-wheel, which
# survives between calls while the machine stays warm.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p /tmp/gpu-wheel
cp -v .gpu-wheel/* /tmp/gpu-wheel/
ls -la /tmp/gpu-wheel
