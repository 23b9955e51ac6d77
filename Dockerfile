# syntax=docker/dockerfile:1.7
# The kubeqa image for the operator and the web UI/API: one image, two commands
# (`kubeqa operator`, `kubeqa server`). Build from the repository root:
#   docker build -t ghcr.io/kubeqa/kubeqa:0.1.0 .
# The Helm chart refers to it by value (image.registry/repository/tag/digest).

ARG NODE_IMAGE=docker.io/library/node:22.20.0-bookworm-slim

# ---- build: compile TypeScript, then keep only production dependencies ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# The sources: everything .dockerignore lets through (tests, docs, charts and benches stay out),
# so a new top-level source directory needs no change here.
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && mkdir -p /out \
 && cp -r package.json tsconfig.build.json bin dist crds node_modules /out/ \
 && mkdir -p /out/domain/db \
 && cp -r domain/db/migrations /out/domain/db/

# ---- final: Node.js runtime, tini, the compiled app; no compilers, no npm cache ----
FROM ${NODE_IMAGE}
ARG KUBEQA_UID=10001
LABEL org.opencontainers.image.title="kubeqa" \
      org.opencontainers.image.description="kubeqa operator and web UI" \
      org.opencontainers.image.source="https://github.com/kubeqa/kubeqa" \
      org.opencontainers.image.licenses="Apache-2.0"
# xz-utils, bzip2, zstd: imports of `…_DECOMPRESS_URL` assets (runtime/storage/decompress.ts)
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates xz-utils bzip2 zstd \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid "${KUBEQA_UID}" kubeqa \
 && useradd --uid "${KUBEQA_UID}" --gid kubeqa --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin kubeqa \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/bin/npm /usr/local/bin/npx /opt/yarn* /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /opt/kubeqa
# package.json and tsconfig.build.json mark the package root (runtime/package-root.ts).
COPY --from=build --chown=root:root /out/ /opt/kubeqa/
ENV NODE_ENV=production \
    KUBEQA_HEALTHCHECK_URL=http://127.0.0.1:9526/healthz
USER ${KUBEQA_UID}:${KUBEQA_UID}
EXPOSE 9526 8080
# Kubernetes uses the chart's probes; this is for `docker run`. The operator's port is 8080:
# docker run -e KUBEQA_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz … operator
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.KUBEQA_HEALTHCHECK_URL).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/opt/kubeqa/bin/kubeqa.js"]
CMD ["server", "--host", "0.0.0.0", "--port", "9526"]
