#!/usr/bin/env bash
# Build PyInstaller's onefile bootloader with logmemory's per-user unpack cache, into OUT/run.
#
#   build/bootloader.sh OUT PYTHON
#
# The sources are those of the pinned PyInstaller's sdist (its version from build/requirements.txt,
# its sha256 below), with build/bootloader/pyi_user_cache.[ch] added and pyi_main.patch applied,
# built by PyInstaller's own waf (release variant only, zlib compiled in: no zlib1g-dev needed).
# Why the patch: see pyi_user_cache.c. The sdist stays in OUT, so a rebuild needs no download.
set -euo pipefail
mkdir -p "$1"
out=$(cd "$1" && pwd) python=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^pyinstaller==//p' "$here/requirements.txt")
sdist=pyinstaller-$version.tar.gz
declare -A SHA256=(
    [6.22.3]=05eb2f5615503e72939a7224d68b4aff572c6b0438ee4a17d0a4b481f399362d
)
want=${SHA256[$version]:-}
[ -n "$want" ] || { echo "bootloader.sh: no sha256 for the sdist of pyinstaller $version: add it" >&2; exit 1; }

if [ ! -f "$out/$sdist" ]; then
    "$python" -m pip download --quiet --disable-pip-version-check --no-binary :all: --no-deps \
        --dest "$out" "pyinstaller==$version"
fi
echo "$want  $out/$sdist" | sha256sum --check --quiet

src=$out/pyinstaller-$version
rm -rf "$src"
tar -xzf "$out/$sdist" -C "$out"
cp "$here"/bootloader/pyi_user_cache.[ch] "$src/bootloader/src/"
patch --quiet -d "$src" -p0 < "$here/bootloader/pyi_main.patch"
cd "$src/bootloader"
"$python" ./waf configure --no-tests --static-zlib -o "$src/waf-out" >/dev/null
"$python" ./waf build_release --targets=run >/dev/null
cp "$src/waf-out/release/run" "$out/run"
rm -rf "$src"
