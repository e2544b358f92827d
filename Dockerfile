# Builds the `aeon` binary and a small image that runs it.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
RUN cargo build --release --locked --bin aeon

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/aeon /usr/local/bin/aeon
COPY config.toml /etc/aeon/config.toml
USER nobody
EXPOSE 8080
ENTRYPOINT ["aeon", "--config", "/etc/aeon/config.toml"]
CMD ["node"]
