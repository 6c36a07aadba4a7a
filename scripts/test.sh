#!/usr/bin/env bash
# Every test: the C tests, the examples and the installed library (all through meson test), the
# docs, the Python tests, the Python package installed by pip into a fresh venv, and the C tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/install-deps.sh
bash scripts/fetch-model.sh >/dev/null
stages=0
passed() { stages=$((stages + 1)); }

echo "== build (warnings are errors)"
# The defaults are an optimized build with debug information: the ABI check needs the types.
[ -f build/build.ninja ] || meson setup build --werror >/dev/null
ninja -C build
passed

echo "== C tests, examples, ABI and installed library (meson test)"
meson test -C build --print-errorlogs
passed

echo "== docs (Doxygen, warnings are errors)"
ninja -C build docs
passed

echo "== Python tests"
LLMINFER_LIBRARY="$root/build/libllminfer.so" python3 -m pytest -q tests/python
passed

echo "== Python package: pip install into a fresh venv (meson-python builds the library), imported from /"
venv=$(mktemp -d); trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet ./bindings/python
# No variable set, run from /: the package must find its own copy of the library.
got=$(cd / && env -u LLMINFER_LIBRARY -u PYTHONPATH "$venv/bin/python" -c \
    'import llminfer, sys; assert llminfer.library_path().startswith(sys.prefix), llminfer.library_path(); print(llminfer.__version__)')
echo "llminfer $got"
[ "$got" = "$(lib/version.sh)" ]
passed

echo "== C tests under AddressSanitizer and UndefinedBehaviorSanitizer"
[ -f build-sanitize/build.ninja ] || meson setup build-sanitize --buildtype=debugoptimized --werror -Dcuda=disabled -Ddocs=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all >/dev/null
ninja -C build-sanitize
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-sanitize --print-errorlogs
passed

# Reached only if every stage above passed (set -e stops at the first failure).
echo "== all tests passed"
echo "stages: $stages passed, 0 failed"
