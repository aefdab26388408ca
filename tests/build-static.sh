#!/bin/sh
# Builds the static musl release binaries (x86-64 and ARM64) and the release archives.
#
#   build-static.sh                   x86_64-unknown-linux-musl into dist/torale (`make static`),
#                                     with its line in dist/SHA256SUMS and the target in dist/TARGET
#   build-static.sh --target TARGET   the stripped binary for TARGET; prints its path
#   build-static.sh --unstripped DIR  the x86-64 binary with its symbols, built in DIR (`make size`);
#                                     prints its path
#   build-static.sh --dist            `make dist`: for each target in DIST_TARGETS (default: both),
#                                     dist/torale-VERSION-TARGET.tar.gz holding the binary, README.md,
#                                     LICENSE, torale.1 and complete/; dist/SHA256SUMS over the archives
#
# Every binary is musl, linked non-PIE (`file` says "statically linked"), without unwind tables
# (with panic = "abort" nothing unwinds; they would only feed a panic's backtrace), and must fit
# in 2 MiB. ring's C and assembly build with the host's C compiler for x86-64 and with Debian's
# gcc-aarch64-linux-gnu (also the linker) for ARM64. There is no glibc fallback: when a musl
# target or the cross compiler cannot be had, the build stops and says which.
#
# Reproducible: source paths are remapped (--remap-path-prefix), and archive entries are sorted,
# owned by 0:0 and dated SOURCE_DATE_EPOCH (else the commit's time), and gzip stores no name or
# time. The same commit gives byte-identical archives from any directory.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
CARGO=${CARGO:-cargo}
BUDGET=2097152
ALL_TARGETS="x86_64-unknown-linux-musl aarch64-unknown-linux-musl"

die() {
  echo "static: $*" >&2
  exit 1
}

rustlib="$(rustc --print sysroot)/lib/rustlib"

# The Rust standard library for TARGET, added with rustup when it is missing.
need_rust_target() {
  [ -d "$rustlib/$1/lib" ] && return 0
  command -v rustup >/dev/null 2>&1 ||
    die "the Rust target $1 is not installed and there is no rustup to add it"
  echo "static: adding the $1 target (rustup target add)" >&2
  timeout 300 rustup target add "$1" >&2 ||
    die "could not add the Rust target $1 (rustup target add $1 failed)"
  [ -d "$rustlib/$1/lib" ] || die "rustup did not install the Rust target $1"
}

# The GNU tool prefix for TARGET's architecture ("" when it is this machine's).
tool_prefix() {
  arch=${1%%-*}
  if [ "$arch" = "$(uname -m)" ]; then echo ""; else echo "$arch-linux-gnu-"; fi
}

# Sets the compiler, linker and flags for TARGET in the environment.
configure() {
  target=$1
  need_rust_target "$target"
  prefix=$(tool_prefix "$target")
  cc=cc
  if [ -n "$prefix" ]; then cc=${prefix}gcc; fi
  if ! command -v "$cc" >/dev/null 2>&1; then
    package="gcc-$(echo "${target%%-*}" | tr _ -)-linux-gnu"
    die "$cc is missing: it is the C compiler and linker for $target (Debian package $package; \`make dist\` installs it with apt-get when it can)"
  fi
  var=$(echo "$target" | tr 'a-z-' 'A-Z_')
  lower=$(echo "$target" | tr '-' '_')
  export "CC_$lower=$cc"
  if [ -n "$prefix" ]; then export "AR_$lower=${prefix}ar"; fi
  export "CARGO_TARGET_${var}_LINKER=$cc"
  # Unit separators, so that a directory with spaces stays one argument.
  sep=$(printf '\037')
  cargo_home=${CARGO_HOME:-$HOME/.cargo}
  flags="-Crelocation-model=static${sep}-Clink-arg=-Wl,--no-eh-frame-hdr"
  flags="$flags${sep}--remap-path-prefix=$root=/build/torale"
  flags="$flags${sep}--remap-path-prefix=$cargo_home=/cargo"
  export CARGO_ENCODED_RUSTFLAGS="$flags"
  unset RUSTFLAGS
  export "CFLAGS_$lower=-ffile-prefix-map=$root=/build/torale"
}

# Builds TARGET and copies the binary, without unwind tables, to OUT.
build() {
  target=$1 out=$2
  configure "$target"
  $CARGO build --release --locked --target "$target" --bin torale >&2
  built="target/$target/release/torale"
  objcopy=$(tool_prefix "$target")objcopy
  command -v "$objcopy" >/dev/null 2>&1 || die "$objcopy is missing (binutils for $target)"
  mkdir -p "$(dirname "$out")"
  "$objcopy" --remove-section=.eh_frame --remove-section=.gcc_except_table "$built" "$out.tmp"
  chmod 0755 "$out.tmp"
  mv "$out.tmp" "$out"
  bytes=$(stat -c %s "$out")
  echo "$out: $target, $bytes bytes ($(awk "BEGIN { printf \"%.2f\", $bytes / 1048576 }") MiB)" >&2
  [ "$bytes" -le "$BUDGET" ] || die "$out is $bytes bytes, over the 2 MiB budget ($BUDGET bytes)"
}

# Replaces NAME's line in dist/SHA256SUMS, keeping the lines of other files still in dist/.
record_sum() {
  name=$1
  (
    cd dist
    if [ -f SHA256SUMS ]; then
      while read -r sum file; do
        if [ "$file" != "$name" ] && [ -f "$file" ]; then echo "$sum  $file"; fi
      done <SHA256SUMS >SHA256SUMS.tmp
    else
      : >SHA256SUMS.tmp
    fi
    sha256sum "$name" >>SHA256SUMS.tmp
    mv SHA256SUMS.tmp SHA256SUMS
  )
}

version() {
  sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1
}

# Seconds since 1970 that every archive entry carries.
source_date_epoch() {
  if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    echo "$SOURCE_DATE_EPOCH"
  elif epoch=$(git log -1 --format=%ct 2>/dev/null) && [ -n "$epoch" ]; then
    echo "$epoch"
  else
    die "not a git checkout: set SOURCE_DATE_EPOCH to date the archives"
  fi
}

dist() {
  targets=${DIST_TARGETS:-$ALL_TARGETS}
  ver=$(version)
  epoch=$(source_date_epoch)
  [ -f LICENSE ] || die "LICENSE is missing"
  stage=target/dist-stage
  rm -rf "$stage"
  mkdir -p "$stage" dist
  for target in $targets; do
    build "$target" "$stage/torale-$ver-$target/torale"
  done
  # Completions and the man page come from a binary this machine can run.
  host=""
  for target in $targets; do
    if [ -z "$(tool_prefix "$target")" ]; then host="$stage/torale-$ver-$target/torale"; fi
  done
  if [ -z "$host" ]; then
    $CARGO build --release --locked --bin torale >&2
    host=target/release/torale
  fi
  "$host" --version | grep -qx "torale $ver" || die "$host --version does not say torale $ver"
  mkdir -p "$stage/share/complete"
  "$host" completion bash >"$stage/share/complete/torale.bash"
  "$host" completion zsh >"$stage/share/complete/_torale"
  "$host" completion fish >"$stage/share/complete/torale.fish"
  SOURCE_DATE_EPOCH=$epoch sh tests/man.sh "$host" >"$stage/share/torale.1"

  sums=""
  for target in $targets; do
    name="torale-$ver-$target"
    dir="$stage/$name"
    cp README.md LICENSE "$stage/share/torale.1" "$dir/"
    cp -R "$stage/share/complete" "$dir/complete"
    find "$dir" -type d -exec chmod 0755 {} +
    find "$dir" -type f ! -name torale -exec chmod 0644 {} +
    tar --sort=name --format=ustar --owner=0 --group=0 --numeric-owner \
      --mtime="@$epoch" -C "$stage" -cf - "$name" | gzip -n -9 >"dist/$name.tar.gz.tmp"
    mv "dist/$name.tar.gz.tmp" "dist/$name.tar.gz"
    sums="$sums $name.tar.gz"
    if [ "$target" = x86_64-unknown-linux-musl ]; then
      # `make static`'s binary too, for the Dockerfile.
      cp "$dir/torale" dist/torale.tmp
      mv dist/torale.tmp dist/torale
      echo "$target" >dist/TARGET
    fi
  done
  # shellcheck disable=SC2086 # one word per archive
  (cd dist && sha256sum $sums >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
  echo "dist/SHA256SUMS:" >&2
  sed 's/^/  /' dist/SHA256SUMS >&2
}

case "${1:-}" in
  "")
    target=x86_64-unknown-linux-musl
    rm -f dist/TARGET
    build "$target" dist/torale
    echo "$target" >dist/TARGET
    record_sum torale
    if command -v file >/dev/null 2>&1; then file dist/torale; fi
    ;;
  --target)
    [ -n "${2:-}" ] || die "--target needs a target triple"
    out="target/static/$2/torale"
    build "$2" "$out"
    echo "$out"
    ;;
  --unstripped)
    [ -n "${2:-}" ] || die "--unstripped needs a directory"
    configure x86_64-unknown-linux-musl
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR="$2" \
      $CARGO build --release --locked --target "$target" --bin torale >&2
    echo "$2/$target/release/torale"
    ;;
  --dist)
    dist
    ;;
  *)
    die "unknown option: $1 (see the top of tests/build-static.sh)"
    ;;
esac
