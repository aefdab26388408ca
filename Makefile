# torale: build, test, demo, benchmark. `make demo` and `make test` are all a fresh machine needs.

CARGO ?= cargo
RELEASE := target/release/torale
FAKE := target/release/examples/fake-torale

.PHONY: all build test demo fake lint clean

all: build

build:
	$(CARGO) build --release --locked

# Format check, lints as errors, then every unit and integration test.
test:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) test --locked

# Builds the CLI and the fake Torale API, then walks through the main job on loopback.
demo:
	$(CARGO) build --release --locked --bin torale --example fake-torale
	sh tests/demo.sh $(RELEASE) $(FAKE)

# The fake Torale API in the foreground, for trying commands by hand (Ctrl-C stops it).
fake:
	$(CARGO) run --release --locked --example fake-torale -- $(ARGS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf dist
