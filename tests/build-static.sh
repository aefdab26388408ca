#!/bin/sh
# Builds the fully static x86-64 Linux release binary into dist/torale, with dist/SHA256SUMS.
#
# x86_64-unknown-linux-musl when that target is installed or `rustup target add` can fetch it;
# otherwise glibc with crt-static (STATIC_LIBC=gnu forces this). Both are linked non-PIE, so
# `file` reports "statically linked". The musl binary also leaves out the unwind tables: with
# panic = "abort" nothing unwinds, and they would only feed the backtrace of a panic.
#
# `build-static.sh --unstripped DIR` builds the same binary with its symbols into DIR instead
# (for `make size`) and prints its path.
set -eu
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
MUSL=x86_64-unknown-linux-musl
GNU=x86_64-unknown-linux-gnu
rustlib="$(rustc --print sysroot)/lib/rustlib"

musl_available() {
  [ -d "$rustlib/$MUSL/lib" ] && return 0
  command -v rustup >/dev/null 2>&1 || return 1
  echo "static: adding the $MUSL target (rustup target add)" >&2
  timeout 120 rustup target add "$MUSL" >&2 || return 1
  [ -d "$rustlib/$MUSL/lib" ]
}

if [ "${STATIC_LIBC:-musl}" != gnu ] && musl_available; then
  target=$MUSL
  # ring's C and assembly build with the host's C compiler; musl-gcc is not needed.
  export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-cc}"
  export RUSTFLAGS="-C relocation-model=static -C link-arg=-Wl,--no-eh-frame-hdr"
else
  target=$GNU
  echo "static: building for $GNU with glibc linked statically (crt-static)" >&2
  export RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static"
fi

if [ "${1:-}" = --unstripped ]; then
  CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR="$2" \
    $CARGO build --release --locked --target "$target" --bin torale >&2
  echo "$2/$target/release/torale"
  exit 0
fi

rm -f dist/torale dist/SHA256SUMS dist/TARGET
$CARGO build --release --locked --target "$target" --bin torale
built="target/$target/release/torale"
mkdir -p dist
if [ "$target" = "$MUSL" ] && command -v objcopy >/dev/null 2>&1; then
  objcopy --remove-section=.eh_frame --remove-section=.gcc_except_table "$built" dist/torale.tmp
else
  cp "$built" dist/torale.tmp
fi
chmod 0755 dist/torale.tmp
mv dist/torale.tmp dist/torale
(cd dist && sha256sum torale >SHA256SUMS)
echo "$target" >dist/TARGET

bytes=$(stat -c %s dist/torale)
echo "dist/torale: $target, $bytes bytes ($(awk "BEGIN { printf \"%.2f\", $bytes / 1048576 }") MiB)"
if command -v file >/dev/null 2>&1; then file dist/torale; fi
