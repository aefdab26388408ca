#!/bin/sh
# `make bench`: the static binary's speed and memory beside the alternatives, each pair measured
# side by side in this one run, on loopback against the in-repo fake Torale API. Prints one
# Markdown table. Commands compared take turns in nine rounds (hyperfine -N, the order turning
# each round), so a machine or fake API that drifts slows them alike: each command runs
# BENCH_RUNS times (default 20, at least 10; rounded up to a multiple of nine), every time is
# the median of the rounds' medians, and every ratio between two timed commands the median of
# their nine rounds' ratios. Every peak RSS is the median of BENCH_RUNS runs under GNU time.
# Usage: bench.sh TORALE FAKE_TORALE
set -eu

# A clean environment: no proxies, SSL_CERT_FILE or TORALE_* settings reach either side.
if [ -z "${TORALE_BENCH_CLEAN:-}" ]; then
  exec env -i TORALE_BENCH_CLEAN=1 PATH="$PATH" LC_ALL=C BENCH_RUNS="${BENCH_RUNS:-20}" \
    sh "$0" "$@"
fi

torale=$(realpath "$1")
fake=$(realpath "$2")
runs=$BENCH_RUNS
[ "$runs" -ge 10 ] || runs=10
rounds=9 middle=5 per=$(((runs + 8) / 9))
python_ms=340   # the Python CLI printing its version (measured when it was replaced)
python_mib=42
budget_mib=2.0
stretch_mib=1.5

work=$(mktemp -d)
pids=""
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
export HOME="$work" TORALE_CONFIG_DIR="$work/config"

. "$(dirname "$0")/fake-api.sh"

# medians NAME COMMAND...: each command's median time in ms, one a line, from nine rounds in
# which the commands take turns (round r starts with command r).
medians() {
  name=$1
  shift
  n=$# r=0
  : >"$work/$name.times"
  while [ "$r" -lt "$rounds" ]; do
    if ! hyperfine -N --style none --warmup 1 --runs "$per" --export-csv "$work/$name.csv" "$@" \
      >"$work/$name.log" 2>&1; then
      cat "$work/$name.log" >&2
      exit 1
    fi
    awk -F, -v r="$r" -v n="$n" 'NR > 1 { print (NR - 2 + r) % n, $(NF - 4) * 1000 }' \
      "$work/$name.csv" >>"$work/$name.times"
    set -- "$@" "$1"
    shift
    r=$((r + 1))
  done
  i=0
  while [ "$i" -lt "$n" ]; do
    awk -v i="$i" '$1 == i { print $2 }' "$work/$name.times" | sort -n | sed -n "${middle}p"
    i=$((i + 1))
  done
}

# rss COMMAND...: median peak RSS in KiB.
rss() {
  : >"$work/rss"
  i=0
  while [ "$i" -lt "$runs" ]; do
    if ! /usr/bin/time -f %M -o "$work/rss1" "$@" >/dev/null 2>"$work/rss.err"; then
      echo "bench: $* failed:" >&2
      cat "$work/rss.err" >&2
      exit 1
    fi
    tail -n 1 "$work/rss1" >>"$work/rss"
    i=$((i + 1))
  done
  sort -n "$work/rss" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

line() { sed -n "${2}p" "$work/$1.csv.medians"; }
ms() { awk -v v="$1" 'BEGIN { if (v < 10) printf "%.2f ms", v; else if (v < 1000) printf "%.1f ms", v; else printf "%.2f s", v / 1000 }'; }
mib() { awk -v v="$1" 'BEGIN { printf "%.2f MiB", v / 1024 }'; }
# paired NAME I J: the median over the rounds of command I's time divided by command J's, each
# the two commands' medians in the same round; the ratios in the table are these.
paired() {
  awk -v i="$2" -v j="$3" '$1 == i { a[++n] = $2 } $1 == j { b[++m] = $2 }
    END { for (k = 1; k <= n; k++) print a[k] / b[k] }' "$work/$1.times" | sort -n | sed -n "${middle}p"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; if (r < 0.1) printf "%.4f×", r; else printf "%.2f×", r }'; }
ok() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "yes" : "**no**" }'; }
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }

# ---- measurements ---------------------------------------------------------------------------

medians version "$torale --version" "true" >"$work/version.csv.medians"
version_ms=$(line version 1)
true_ms=$(line version 2)
version_kib=$(rss "$torale" --version)

start_fake small --tasks 1000 --quiet
small_url=$url
small_key=$key
curl -s -H "Authorization: Bearer $small_key" "$small_url/api/v1/tasks/" >"$work/small.json"
small_bytes=$(wc -c <"$work/small.json")
medians small \
  "$torale --api-url $small_url --api-key $small_key task list --json" \
  "curl -s -H 'Authorization: Bearer $small_key' $small_url/api/v1/tasks/" \
  >"$work/small.csv.medians"
small_ms=$(line small 1)
small_curl_ms=$(line small 2)
small_ratio=$(paired small 0 1)

start_fake large --tasks 10000 --quiet
large_url=$url
large_key=$key
curl -s -H "Authorization: Bearer $large_key" "$large_url/api/v1/tasks/" >"$work/large.json"
large_bytes=$(wc -c <"$work/large.json")
large_kib=$(awk -v b="$large_bytes" 'BEGIN { print b / 1024 }')
list="$torale --api-url $large_url --api-key $large_key task list"
medians large "$list" "$list --json" \
  "curl -s -H 'Authorization: Bearer $large_key' $large_url/api/v1/tasks/" \
  >"$work/large.csv.medians"
large_human_ms=$(line large 1)
large_json_ms=$(line large 2)
large_curl_ms=$(line large 3)
large_ratio=$(paired large 1 2)
# shellcheck disable=SC2086
large_human_kib=$(rss $list)
# shellcheck disable=SC2086
large_json_kib=$(rss $list --json)
# shellcheck disable=SC2086
large_field_kib=$(rss $list --field id)

size_bytes=$(stat -c %s "$torale")
size_mib=$(awk -v b="$size_bytes" 'BEGIN { print b / 1048576 }')

# ---- the table ------------------------------------------------------------------------------

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release 2>/dev/null || true)
target=$(cat "$(dirname "$torale")/TARGET" 2>/dev/null || echo "?")
echo "torale bench, $(date -u '+%Y-%m-%d %H:%M UTC'): $cpu, $(nproc) cores, $mem; $os, Linux $(uname -r)"
echo "binary: $torale ($target, $size_bytes bytes); $(hyperfine --version), $(curl --version | head -n 1 | cut -d' ' -f1-2)"
echo "medians of $rounds rounds of $per runs; responses: 1,000 tasks = $small_bytes bytes, 10,000 tasks = $large_bytes bytes"
echo
row "measurement" "torale" "compared with" "ratio" "target" "met"
row "---" "---:" "---" "---:" "---" "---"
row "\`--version\` wall time" "$(ms "$version_ms")" "\`true\` $(ms "$true_ms")" \
  "$(ratio "$(paired version 0 1)" 1)" "≤ 2 ms" "$(ok "$version_ms" 2)"
row "\`--version\` wall time" "$(ms "$version_ms")" "Python CLI $python_ms ms (recorded)" \
  "$(ratio "$version_ms" "$python_ms")" "" ""
row "\`--version\` peak RSS" "$(mib "$version_kib")" "Python CLI $python_mib MiB (recorded)" \
  "$(ratio "$version_kib" $((python_mib * 1024)))" "≤ 4 MiB" "$(ok "$version_kib" 4096)"
row "\`task list --json\`, 1,000 tasks" "$(ms "$small_ms")" "\`curl -s\` $(ms "$small_curl_ms")" \
  "$(ratio "$small_ratio" 1)" "≤ 1.0×" "$(ok "$small_ratio" 1)"
row "\`task list\`, 10,000 tasks" "$(ms "$large_human_ms")" "\`curl -s\` $(ms "$large_curl_ms")" \
  "$(ratio "$(paired large 0 2)" 1)" "≤ 0.3 s" "$(ok "$large_human_ms" 300)"
row "\`task list --json\`, 10,000 tasks" "$(ms "$large_json_ms")" "\`curl -s\` $(ms "$large_curl_ms")" \
  "$(ratio "$large_ratio" 1)" "≤ 1.3×" "$(ok "$large_ratio" 1.3)"
row "\`task list\`, 10,000 tasks, peak RSS" "$(mib "$large_human_kib")" "response $(mib "$large_kib")" \
  "$(ratio "$large_human_kib" "$large_kib")" "≤ 3×" "$(ok "$large_human_kib" "$(awk -v k="$large_kib" 'BEGIN { print 3 * k }')")"
row "\`task list --json\`, 10,000 tasks, peak RSS" "$(mib "$large_json_kib")" "response $(mib "$large_kib")" \
  "$(ratio "$large_json_kib" "$large_kib")" "≤ 1.5×" "$(ok "$large_json_kib" "$(awk -v k="$large_kib" 'BEGIN { print 1.5 * k }')")"
row "\`task list --field id\`, 10,000 tasks, peak RSS" "$(mib "$large_field_kib")" \
  "\`--json\` $(mib "$large_json_kib")" "$(ratio "$large_field_kib" "$large_json_kib")" "≤ 1.5×" \
  "$(ok "$large_field_kib" "$(awk -v k="$large_json_kib" 'BEGIN { print 1.5 * k }')")"
row "binary size" "$(awk -v m="$size_mib" 'BEGIN { printf "%.2f MiB", m }')" "budget $budget_mib MiB" \
  "$(ratio "$size_mib" "$budget_mib")" "≤ $budget_mib MiB (stretch $stretch_mib)" \
  "$(ok "$size_mib" "$budget_mib")$(awk -v m="$size_mib" -v s="$stretch_mib" 'BEGIN { if (m <= s) print ", stretch too" }')"
