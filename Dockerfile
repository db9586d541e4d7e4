# syntax=docker/dockerfile:1.7
#
# sweepwatch container image: a Rust build stage and a small Debian runtime.
#
#   docker build -t sweepwatch:local .
#   docker run --rm sweepwatch:local config      # print the effective configuration
#
# The runtime stage is debian:bookworm-slim rather than distroless so that the
# HEALTHCHECK can use bash's /dev/tcp (no curl, no extra packages). The binary
# needs no OpenSSL (rustls with ring) and only glibc; ca-certificates is there
# for `mqtts://` brokers verified against the system roots (mqtt.ca_file unset).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build ------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
# The whole workspace is needed: the binary depends on every crate. .dockerignore
# keeps target/ and local state out of the context.
COPY . .
# BuildKit cache mounts keep the registry and the target directory between
# builds (a cold build compiles ~300 crates; a warm one only what changed).
# The binary is copied out inside the same RUN because the cache mount is not
# part of the layer. --locked: build exactly the dependency versions of
# Cargo.lock, as CI tested them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p sweepwatch \
 && install -D -m 0755 target/release/sweepwatch /out/sweepwatch

# ---- dashboard ----------------------------------------------------------------
# The dispatch dashboard (web/): Leaflet and Vite from the npm registry, exactly
# the versions of package-lock.json; only the built files reach the image.
FROM node:20-${DEBIAN_RELEASE}-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# ---- runtime ----------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 # A fixed, unprivileged uid/gid (not 1000, which often exists on hosts) so that
 # volume permissions and Kubernetes runAsUser can name it.
 && groupadd --system --gid 10001 sweepwatch \
 && useradd --system --uid 10001 --gid sweepwatch --home-dir /nonexistent \
      --no-create-home --shell /usr/sbin/nologin sweepwatch
COPY --from=build /out/sweepwatch /usr/local/bin/sweepwatch
COPY --from=web /web/dist /usr/share/sweepwatch/web

# Container defaults. The built-in default HTTP address is 127.0.0.1:8080, which
# nothing outside the container could reach; the dashboard is where the web stage
# put it (the default, web/dist, is relative to a source checkout); JSON logs
# suit log collectors.
# Everything else (database, broker, client id, orgs) is deployment-specific and
# set by compose / Kubernetes / `docker run -e`.
ENV SWEEPWATCH_HTTP_ADDR=0.0.0.0:8080 \
    SWEEPWATCH_WEB_DIR=/usr/share/sweepwatch/web \
    SWEEPWATCH_LOG_FORMAT=json \
    SWEEPWATCH_LOG=info

USER 10001:10001
EXPOSE 8080

# /healthz answers once the service has migrated the database and started its
# HTTP server (it waits for the database first), hence the long start period.
# The port follows SWEEPWATCH_HTTP_ADDR. An HTTP/1.0 request makes the server
# close the connection after its answer, so `read` returns.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${SWEEPWATCH_HTTP_ADDR##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r -t 4 status <&3 && [[ $status == *' 200 '* ]]"]

# SIGTERM (docker stop, Kubernetes) makes sweepwatch stop reading, commit and
# acknowledge what it holds, then exit; give it more than
# pipeline.shutdown_grace_secs (15 s) before a SIGKILL (compose: stop_grace_period,
# Kubernetes: terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sweepwatch"]
CMD ["serve"]
