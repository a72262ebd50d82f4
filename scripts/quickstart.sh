#!/usr/bin/env bash
# Set up, then answer a real request on the embedded default: no API key, no GPU, no internet.
# Reads the text of a bundled sample image (OCR) and says it aloud (text-to-speech).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# HGBOT_HOME is left as it is: the same default as every later hgbot command (README, Configuration).
export HF_HUB_OFFLINE=1
.venv/bin/hgbot ask "read the text in this image aloud" --attach orchestrator/data/samples/text.png
