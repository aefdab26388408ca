#!/bin/sh
# The main job, end to end, against the in-repo fake Torale API on loopback:
# auth, create, list, execute --wait, logs, delete. Usage: demo.sh TORALE FAKE_TORALE
set -eu
torale=$1
fake=$2
work=$(mktemp -d)
pids=""
cleanup() { [ -z "$pids" ] || kill $pids 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
. "$(dirname "$0")/fake-api.sh"
start_fake demo

# A private config directory, so the demo never touches ~/.torale.
export TORALE_CONFIG_DIR="$work/config"
export TORALE_API_URL="$url"
unset TORALE_API_KEY TORALE_NOAUTH TORALE_DEV 2>/dev/null || true

if [ -t 1 ]; then
  step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
else
  step() { printf '\n$ %s\n' "$*"; }
fi

step "echo \"\$KEY\" | torale auth set-api-key      # fake API at $url"
echo "$key" | "$torale" auth set-api-key

step "torale auth status"
"$torale" auth status

step "torale task create -q \"When will Apple release the iPhone 18?\" -c \"Apple has announced a release date\""
id=$("$torale" task create -q "When will Apple release the iPhone 18?" -c "Apple has announced a release date")
echo "$id"

step "torale task create -q \"When will Apple release the iPhone 18?\" --paused   # same query: the name stays unique"
"$torale" task create -q "When will Apple release the iPhone 18?" --paused >/dev/null

step "torale task list"
"$torale" task list

step "torale task execute $id --wait"
"$torale" task execute "$id" --wait

step "torale task logs $id"
"$torale" task logs "$id"

step "torale task list --json | head -c 200"
"$torale" task list --json | head -c 200; echo

step "torale task delete $id --yes"
"$torale" task delete "$id" --yes

step "torale task get $id   # exit code 5: not found"
set +e
"$torale" task get "$id"
code=$?
set -e
echo "exit code: $code"
[ "$code" -eq 5 ]
printf '\nDemo finished.\n'
