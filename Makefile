# torale: build, test, demo, benchmark. `make demo` and `make test` are all a fresh machine needs.

CARGO ?= cargo
RELEASE := target/release/torale
FAKE := target/release/examples/fake-torale

.PHONY: all build test demo fake lint clean fuzz static size bench

all: build

build:
	$(CARGO) build --release --locked

# Format check, lints as errors, then every unit and integration test. Tests that need what a
# machine may lack (zsh, fish, root, dist/torale) are ignored here; .ci/run provides those and
# runs them with `cargo test -- --ignored`.
test:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) test --locked

# A fully static x86-64 Linux (musl) binary in dist/torale, with its line in dist/SHA256SUMS.
# Adds the x86_64-unknown-linux-musl target with rustup when it is missing; fails, saying so,
# when it cannot.
static:
	sh tests/build-static.sh

# Where the static binary's bytes go: sections, crates, largest symbols.
size: static
	sh tests/size.sh

# The release: for x86-64 and ARM64 Linux (musl, static), dist/torale-VERSION-TARGET.tar.gz
# holding the binary, README.md, LICENSE, the man page torale.1 and the completion scripts in
# complete/, and dist/SHA256SUMS over the archives. Byte-identical from any clone of the same
# commit. Installs the ARM64 C compiler and linker (gcc-aarch64-linux-gnu) when it is missing;
# the musl targets come from rustup. DIST_TARGETS="x86_64-unknown-linux-musl" builds one.
.PHONY: dist man
dist:
	@command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || $(APT_INSTALL) gcc-aarch64-linux-gnu || \
	  echo "dist: could not install gcc-aarch64-linux-gnu (apt-get failed): the ARM64 build needs it" >&2
	sh tests/build-static.sh --dist

# The man page, dist/torale.1, made from the help texts of target/release/torale.
man:
	@command -v perl >/dev/null 2>&1 || $(APT_INSTALL) perl
	$(CARGO) build --release --locked --bin torale
	mkdir -p dist
	sh tests/man.sh $(RELEASE) >dist/torale.1.tmp && mv dist/torale.1.tmp dist/torale.1

# Speed and memory of dist/torale beside `true`, `curl -s` and the Python CLI's recorded
# numbers, on loopback against the fake API: one table. Installs hyperfine, GNU time and curl
# from Debian's packages when they are missing.
APT_INSTALL := sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$$@"' apt-install
bench: static
	@command -v hyperfine >/dev/null 2>&1 || $(APT_INSTALL) hyperfine
	@test -x /usr/bin/time || $(APT_INSTALL) time
	@command -v curl >/dev/null 2>&1 || $(APT_INSTALL) curl
	$(CARGO) build --release --locked --example fake-torale
	sh tests/bench.sh dist/torale $(FAKE)

# Builds the CLI and the fake Torale API, then walks through the main job on loopback.
demo:
	$(CARGO) build --release --locked --bin torale --example fake-torale
	sh tests/demo.sh $(RELEASE) $(FAKE)

# The fake Torale API in the foreground, for trying commands by hand: it first prints the
# `export TORALE_API_URL=... TORALE_API_KEY=...` line to paste into another shell (Ctrl-C stops it).
fake:
	$(CARGO) run --release --locked --example fake-torale -- $(ARGS)

# The cargo-fuzz targets in fuzz/, one after another, FUZZ_SECONDS each (nightly toolchain;
# installs cargo-fuzz from crates.io when it is missing). New inputs go to fuzz/corpus/,
# crashes to fuzz/artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := cli_args config_file error_body retry_after task_json
fuzz:
	command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for target in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$target && \
	  $(CARGO) +nightly fuzz run $$target corpus/$$target seeds/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf dist
