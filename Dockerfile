# syntax=docker/dockerfile:1
# baton: one image for every role (`baton serve`, `baton agent`, `baton broker`, `baton migrate`).
#   docker build -t baton:local .        docker compose up --build   (docs/compose.md)

# --- build ------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Dependencies first, with placeholder sources for every workspace member, so that a source
# change does not rebuild them. protox compiles the SDK's .proto in its build.rs: no protoc
# needed. The SDK's manifest declares its examples, so Cargo reads the manifest only with
# them present. Migrations are embedded at build time.
COPY Cargo.toml Cargo.lock ./
COPY crates/baton-cloudevents/Cargo.toml crates/baton-cloudevents/build.rs crates/baton-cloudevents/
COPY crates/baton-cloudevents/proto crates/baton-cloudevents/proto
COPY crates/baton-cloudevents/examples crates/baton-cloudevents/examples
COPY crates/baton-bench/Cargo.toml crates/baton-bench/
RUN mkdir -p src crates/baton-cloudevents/src crates/baton-bench/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs crates/baton-cloudevents/src/lib.rs crates/baton-bench/src/lib.rs \
    && echo 'fn main() {}' > crates/baton-bench/src/main.rs \
    && cargo build --release --locked -p baton \
    && rm -rf src crates/baton-cloudevents/src crates/baton-bench/src

COPY src src
COPY crates/baton-cloudevents/src crates/baton-cloudevents/src
COPY crates/baton-bench/src crates/baton-bench/src
COPY migrations migrations
COPY ui/dist ui/dist
RUN touch src/main.rs src/lib.rs crates/baton-cloudevents/src/lib.rs \
    && cargo build --release --locked -p baton \
    && strip target/release/baton

# --- runtime ----------------------------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates: TLS to brokers and databases; curl: the compose healthcheck on /readyz.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

# A non-root user. The agent's state directory exists and belongs to it, so a named volume
# mounted there starts out writable (Docker copies the owner into an empty named volume).
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/baton --create-home baton \
    && install -d -o baton -g baton /var/lib/baton-agent /etc/baton

COPY --from=builder /src/target/release/baton /usr/local/bin/baton

USER baton:baton
WORKDIR /var/lib/baton
# 8000: REST API (baton serve); 8090: built-in gRPC broker (baton serve --transport grpc).
EXPOSE 8000 8090
ENTRYPOINT ["baton"]
CMD ["--help"]
