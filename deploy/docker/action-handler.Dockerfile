# reflex-action-handler image. Build from the repository root:
#   docker build -f deploy/docker/action-handler.Dockerfile -t reflex-action-handler .
# The build and runtime stages are the same text in every service Dockerfile, so the engine builds them once
# (scripts/docker-images.sh checks that they stay identical).
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
# Labelled so that scripts/docker-images.sh can remove the stale stages of earlier builds, and nothing else.
LABEL reflex.stage=build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev make pkg-config \
      libmicrohttpd-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libssh-dev librdkafka-dev libssl-dev libjemalloc-dev >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# web/node_modules comes in the context (scripts/docker-images.sh runs npm ci from web/package-lock.json on the host
# first): marking it current keeps make from running npm here.
RUN touch web/node_modules/.package-lock.json && make -j"$(nproc)" all && strip build/bin/*

FROM ${BASE_IMAGE} AS runtime
LABEL reflex.stage=runtime
# Runtime libraries only; curl (a few hundred KB beside the libcurl every binary links anyway) runs the HEALTHCHECK.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libmicrohttpd12 libcurl4 libcjson1 \
      libyaml-0-2 libssh-4 librdkafka1 libssl3 libjemalloc2 ca-certificates curl >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 reflex \
 && useradd --system --uid 10001 --gid reflex --home-dir /var/lib/reflex --shell /usr/sbin/nologin reflex \
 && install -d -o reflex -g reflex -m 0750 /var/lib/reflex

FROM runtime
COPY --from=build /src/build/bin/reflex-action-handler /usr/local/bin/
# The spool must survive restarts: mount a volume on /var/lib/reflex/action-handler.
# Defaults for a bare `docker run`: listen on every interface (the engine's port mapping decides who reaches the
# service). docker-compose.yaml mounts its own file here.
RUN install -d -o reflex -g reflex -m 0750 /var/lib/reflex/action-handler && install -d /etc/reflex \
 && printf 'bind: 0.0.0.0\nspool_dir: /var/lib/reflex/action-handler\n' >/etc/reflex/action-handler.yaml
USER 10001:10001
WORKDIR /var/lib/reflex
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${REFLEX_PORT:-8081}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/reflex-action-handler"]
