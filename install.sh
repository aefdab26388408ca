#!/bin/sh
# Installs torale, the static Linux binary for this machine (x86-64 or ARM64), from a release,
# after checking the archive against the release's SHA256SUMS. No root needed.
#
#   curl -fsSL https://raw.githubusercontent.com/torale-ai/torale-cli/main/install.sh | sh
#
# Environment (all optional):
#   TORALE_VERSION=0.1.0     that release instead of the latest
#   TORALE_REPO=owner/name   the GitHub repository (default torale-ai/torale-cli)
#   TORALE_INSTALL_BASE=URL  the folder holding SHA256SUMS and the archives (a mirror);
#                            TORALE_VERSION and TORALE_REPO are then not used
#   TORALE_INSTALL_DIR=DIR   where torale goes (default ~/.local/bin)
#
# Needs curl or wget, sha256sum or shasum, tar and gzip. Any failure prints one line and exits
# non-zero with nothing installed.
set -eu

fail() {
  echo "torale install: $*" >&2
  exit 1
}

os=$(uname -s)
arch=$(uname -m)
[ "$os" = Linux ] ||
  fail "unsupported platform: $os $arch (release binaries exist for Linux x86_64 and aarch64)"
case "$arch" in
  x86_64 | amd64) target=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
  *) fail "unsupported platform: $os $arch (release binaries exist for Linux x86_64 and aarch64)" ;;
esac

if [ -n "${TORALE_INSTALL_BASE:-}" ]; then
  base=${TORALE_INSTALL_BASE%/}
elif [ -n "${TORALE_VERSION:-}" ]; then
  base="https://github.com/${TORALE_REPO:-torale-ai/torale-cli}/releases/download/v${TORALE_VERSION#v}"
else
  base="https://github.com/${TORALE_REPO:-torale-ai/torale-cli}/releases/latest/download"
fi

if [ -n "${TORALE_INSTALL_DIR:-}" ]; then
  dir=$TORALE_INSTALL_DIR
elif [ -n "${HOME:-}" ]; then
  dir=$HOME/.local/bin
else
  fail "HOME is not set: set TORALE_INSTALL_DIR to the directory to install into"
fi

if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsL --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  fail "neither curl nor wget is installed: install one of them"
fi

if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
  fail "neither sha256sum nor shasum is installed: cannot check the download"
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t torale-install)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS" || fail "could not download $base/SHA256SUMS"

# The line `<sum>  torale-VERSION-TARGET.tar.gz` (or ` *name`, as sha256sum -b writes it).
line=$(awk -v t="$target" '{ n = $2; sub(/^\*/, "", n) }
  n ~ ("^torale-[0-9A-Za-z.+-]*-" t "\\.tar\\.gz$") { print $1, n; found++ }
  END { exit found == 1 ? 0 : 1 }' "$tmp/SHA256SUMS") ||
  fail "$base/SHA256SUMS lists no single archive for $target"
expected=${line%% *}
name=${line#* }

fetch "$base/$name" "$tmp/$name" || fail "could not download $base/$name"
actual=$(sha256 "$tmp/$name")
[ "$actual" = "$expected" ] ||
  fail "checksum mismatch for $name (expected $expected, got $actual): nothing installed"

mkdir "$tmp/unpacked"
(cd "$tmp/unpacked" && gzip -dc "../$name" | tar -xf -) 2>/dev/null || fail "could not unpack $name"
binary="$tmp/unpacked/${name%.tar.gz}/torale"
[ -f "$binary" ] || fail "$name holds no ${name%.tar.gz}/torale"

mkdir -p "$dir" 2>/dev/null || fail "cannot create $dir"
staged="$dir/.torale.tmp.$$"
if ! { cp "$binary" "$staged" && chmod 0755 "$staged" && mv -f "$staged" "$dir/torale"; } 2>/dev/null; then
  rm -f "$staged"
  fail "cannot write $dir/torale"
fi

version=$("$dir/torale" --version 2>/dev/null | head -n 1) || version=""
echo "Installed ${version:-torale} to $dir/torale (${name%.tar.gz})"
case ":${PATH:-}:" in
  *":$dir:"*) ;;
  *) echo "Note: $dir is not in PATH; add it with: export PATH=\"$dir:\$PATH\"" ;;
esac
