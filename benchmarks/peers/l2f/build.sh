#!/usr/bin/env bash
# Builds the peer trainer (l2f_td3.cpp) against the rl_tools headers of the PyPI package `rltools`.
#
#   benchmarks/peers/l2f/build.sh [OUT_DIR]        (default: runs/peers/l2f)
#
# Env: PYTHON (the interpreter whose site-packages hold rltools; default .venv/bin/python, then python3),
#      CXX (default g++), L2F_BLAS=openblas|generic (default: openblas when cblas.h and libopenblas are found),
#      L2F_CXXFLAGS (default "-O3 -march=native": the binary runs on the machine that builds it; tests pass -O1).
# Prints the binary's path on the last line of stdout. Exit 3: no compiler; 4: rltools not installed; 1: build failed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
OUT="${1:-$ROOT/runs/peers/l2f}"
CXX="${CXX:-g++}"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
command -v "$CXX" >/dev/null 2>&1 || { echo "no C++ compiler ($CXX not found)" >&2; exit 3; }
INC="$("$PYTHON" -c 'import os, rltools; print(os.path.join(os.path.dirname(rltools.__file__), "external", "rl_tools", "include"))' 2>/dev/null)" \
    || { echo "the PyPI package rltools is not installed for $PYTHON (pip install rltools)" >&2; exit 4; }
[ -f "$INC/rl_tools/rl/environments/l2f/multirotor.h" ] || { echo "rltools at $INC has no L2F environment headers" >&2; exit 4; }
VERSION="$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("rltools"))' 2>/dev/null || echo unknown)"

BLAS="${L2F_BLAS:-auto}"
BLAS_FLAGS=()
if [ "$BLAS" = auto ]; then
    BLAS=generic
    if echo '#include <cblas.h>' | "$CXX" -E -x c++ - >/dev/null 2>&1 && \
       echo 'int main(){}' | "$CXX" -x c++ - -lopenblas -o /dev/null >/dev/null 2>&1; then
        BLAS=openblas
    fi
fi
if [ "$BLAS" = openblas ]; then BLAS_FLAGS=(-DRL_TOOLS_BACKEND_ENABLE_OPENBLAS -lopenblas); fi

mkdir -p "$OUT"
BIN="$OUT/l2f_td3_$BLAS"
read -r -a OPT <<< "${L2F_CXXFLAGS:--O3 -march=native}"
"$CXX" -std=c++17 "${OPT[@]}" -DNDEBUG -I "$INC" "$HERE/l2f_td3.cpp" -o "$BIN.tmp" "${BLAS_FLAGS[@]}" -lpthread
mv "$BIN.tmp" "$BIN"
echo "rltools $VERSION, backend $BLAS, $("$CXX" --version | head -1)" >&2
echo "$BIN"
