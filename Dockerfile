# syntax=docker/dockerfile:1
#
# handover in a container: the release binary alone on a distroless runtime.
#
#   docker build -t handover .
#   docker run --rm -v "$PWD/work:/data" --user "$(id -u):$(id -g)" \
#     -e DATAROBOT_ENDPOINT -e DATAROBOT_API_TOKEN \
#     handover plan --from alice@acme.com --to bob@acme.com --out /data/alice.plan.jsonl
#
# See README.md, "Running in a container".

# --- build ----------------------------------------------------------------------------
# Debian 12 (bookworm) on both sides, so the binary links against the glibc it runs on.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Only what the binary is built from; tests, benchmarks and docs stay out (.dockerignore).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The simulator crate (`handover sim`, `handover demo`); its tests stay out (.dockerignore).
COPY crates ./crates
# The registry and target caches survive between builds (BuildKit); the binary is copied
# out of the cached target directory, which is not part of the image.
# Cargo.toml declares tests/html_render.rs as a target of its own (it has its own
# harness), and cargo reads every declared target's file before it builds anything; the
# tests stay out of the context, so an empty stand-in takes that file's place. It is never
# compiled.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    mkdir tests && echo 'fn main() {}' > tests/html_render.rs \
    && cargo build --release --locked --bin handover \
    && cp target/release/handover /usr/local/bin/handover
# The working directory for plans, journals and reports, owned by the runtime user, so a
# named volume mounted there starts out writable.
RUN mkdir /data

# --- run ------------------------------------------------------------------------------
# glibc and libgcc, nothing else: no shell, no package manager. TLS needs no system CA
# store (the Mozilla roots are compiled in; a private CA is given with ssl_verify).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/handover /usr/local/bin/handover
COPY --from=build --chown=65532:65532 /data /data
# uid 65532 ("nonroot"); `docker run --user "$(id -u):$(id -g)"` runs as you instead, so
# that files written to a bind-mounted directory are yours.
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
# Configuration comes from the environment, as for DataRobot's Python client:
# DATAROBOT_ENDPOINT and DATAROBOT_API_TOKEN (or DATAROBOT_CONFIG_FILE, e.g. a file in
# /data). Nothing secret is baked into the image.
ENTRYPOINT ["/usr/local/bin/handover"]
CMD ["--help"]
