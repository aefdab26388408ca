# Sourced by demo.sh and bench.sh: start the in-repo fake Torale API in the background.
# Needs $fake (the fake-torale binary) and $work (a scratch directory); appends the process id
# to $pids for the caller's cleanup.

# start_fake NAME [FAKE ARGS...]: start a fake API (output in $work/NAME.*); sets url and key
# from the `export TORALE_API_URL=... TORALE_API_KEY=...` line it prints.
start_fake() {
  name=$1
  shift
  "$fake" "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null &
  pids="${pids:-} $!"
  i=0
  until grep -q '^export TORALE_API_URL=' "$work/$name.out" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 300 ]; then
      echo "the fake API did not start" >&2
      cat "$work/$name.err" >&2
      exit 1
    fi
    sleep 0.1
  done
  exports=$(sed -n 's/^export //p' "$work/$name.out")
  url=$(echo "$exports" | tr ' ' '\n' | sed -n 's/^TORALE_API_URL=//p')
  key=$(echo "$exports" | tr ' ' '\n' | sed -n 's/^TORALE_API_KEY=//p')
}
