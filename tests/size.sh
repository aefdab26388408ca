#!/bin/sh
# `make size`: where the static binary's bytes go. The sections of dist/torale, then, from the
# same build with its symbols kept, the bytes of code and data per crate and the largest symbols.
set -eu
cd "$(dirname "$0")/.."
[ -f dist/torale ] || { echo "size: dist/torale is missing (make static)" >&2; exit 1; }
unstripped=$(sh tests/build-static.sh --unstripped target/size)
total=$(stat -c %s dist/torale)

echo "dist/torale ($(cat dist/TARGET 2>/dev/null || echo '?')): $total bytes"
echo
echo "| section | bytes | share |"
echo "|---|---:|---:|"
size -A dist/torale | awk -v t="$total" '$1 ~ /^\./ && $1 !~ /bss$/ && $2 > 0 { printf "| %s | %d | %.1f%% |\n", $1, $2, 100 * $2 / t }' |
  sort -t'|' -k3 -nr | head -n 8

# nm -S -C: address, size, type, demangled name. The crate is the first path segment of the
# name (generic code is counted where it is instantiated from: `<alloc::vec::Vec<T>>` is std);
# C and assembly symbols are ring's when prefixed so, the C library's otherwise.
loaded=$(size -A dist/torale | awk '$1 ~ /^\.(text|rodata|data|data\.rel\.ro|tdata|got|init|fini)/ { s += $2 } END { print s }')
nm -S -C --size-sort "$unstripped" | awk -v loaded="$loaded" -v total="$total" '
  function hex(s,   i, v) {
    v = 0
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", tolower(substr(s, i, 1))) - 1
    return v
  }
  $3 ~ /^[tTrRdDbB]$/ {
    size = hex($2)
    name = $0
    sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
    crate = name
    gsub(/^[<&*]+|^(dyn |impl |const |mut )+/, "", crate)
    sub(/^[A-Z][A-Za-z0-9_]* as /, "", crate)
    if (crate ~ /::/) {
      sub(/::.*/, "", crate)
      sub(/<.*/, "", crate)
      if (crate ~ /^(gimli|addr2line|miniz_oxide|rustc_demangle|object|adler2)$/ || name ~ /backtrace/) crate = "std: backtrace printing (gimli, addr2line, miniz_oxide, rustc_demangle)"
      else if (crate ~ /^(core|alloc|std|panic_abort|compiler_builtins|std_detect|hashbrown)$/) crate = "std (core, alloc)"
    } else if (name ~ /^(ring_core|ecp_nistz256|_vpaes|_aesni|ChaCha20|GFp|gcm_|aes_)/) {
      crate = "ring (C and assembly)"
    } else if (name ~ /^(_start|_init|_fini|__rust|rust_|main$)/) {
      crate = "std (core, alloc)"
    } else {
      crate = "C library (musl)"
    }
    bytes[crate] += size
    all += size
    if (size >= 8192) big[name] = size
  }
  END {
    print ""
    print "| crate | bytes | share of the file |"
    print "|---|---:|---:|"
    for (c in bytes) printf "%d\t| %s | %d | %.1f%% |\n", bytes[c], c, bytes[c], 100 * bytes[c] / total | "sort -nr | cut -f2- | head -n 12"
    close("sort -nr | cut -f2- | head -n 12")
    if (loaded > all) printf "| (in no symbol: string literals, the built-in root certificates, other constants) | %d | %.1f%% |\n", loaded - all, 100 * (loaded - all) / total
    print ""
    print "| largest symbols | bytes |"
    print "|---|---:|"
    for (n in big) printf "%d\t| `%s` | %d |\n", big[n], substr(n, 1, 90), big[n] | "sort -nr | cut -f2- | head -n 15"
  }'
