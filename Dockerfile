# syntax=docker/dockerfile:1

# ---- build: compile TypeScript, then drop dev dependencies ------------------------------------------
FROM node:20-bookworm-slim AS build
# A toolchain for the native addons: the fast lane (native/lane) and zstd-napi. Without it both are
# skipped and the proxy relays everything in JS and offers zlib only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY scripts ./scripts
COPY native ./native
RUN npm run build && npm prune --omit=dev \
 && mkdir -p native/lane/build/Release && touch native/lane/build/Release/.keep

# ---- runtime ----------------------------------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
RUN groupadd --system tenantgate \
 && useradd --system --gid tenantgate --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin tenantgate \
 && mkdir -p /etc/tenantgate
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The fast lane's module when it was built (the loader looks for it there; without it, no fast lane).
COPY --from=build /app/native/lane/build/Release ./native/lane/build/Release
# Commented reference configs; mount your own at /etc/tenantgate/config.yaml.
COPY config/examples /usr/share/tenantgate/examples
USER tenantgate
EXPOSE 6033
# Node as PID 1 gets no default signal handling; tenantgate handles SIGTERM/SIGINT itself for a
# graceful drain. `docker run --init` adds a reaper if you want one.
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start", "--config", "/etc/tenantgate/config.yaml"]
