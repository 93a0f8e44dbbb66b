# The action-worker image. Multi-stage: dependencies and the TypeScript build in the first stage,
# production dependencies only in the second. The base image is a build argument: any Node.js >= 20.19
# image with npm works (node:20-bookworm-slim from a registry, or, where no registry is reachable, one made
# from this machine's Node.js by docker/node-base/build.sh). The build stage runs `npm ci`.
#
#   docker build --build-arg NODE_IMAGE=node:20-bookworm-slim -t action-worker .
#   bash docker/node-base/build.sh && \
#     docker build --network host --build-arg NODE_IMAGE=action-worker/node-base:20 -t action-worker .
#
# It runs as the unprivileged "node" user and reaches a Docker engine through DOCKER_HOST
# (tcp://dind:2375, as in docker/compose.yaml and deploy/) or a mounted socket, which the node user may
# use only with the socket's group:
#
#   docker run --rm -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" action-worker daemon
#
# Workspaces are bind-mounted into action containers by path, so ACTION_WORKER_WORKSPACE_DIR must be the
# same path in this container and on the engine's host (mount it at the same path on both sides).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 (the embedded metadata store) is a native addon: `npm ci` downloads its prebuilt binary
# for this Node.js and platform from the package's release host, or compiles it (python3, make, g++ and
# Node's headers) when that fails. Where the release host is not reachable, serve the prebuilt tarball
# yourself and name the server here (prebuild-install's mirror setting), e.g. http://127.0.0.1:8000 with
# --network host; the tarball is <server>/v<version>/better-sqlite3-v<version>-node-v<abi>-linux-x64.tar.gz.
ARG BETTER_SQLITE3_BINARY_HOST=
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm_config_better_sqlite3_binary_host="$BETTER_SQLITE3_BINARY_HOST" npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.js ./scripts/bundle.js
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# Runs as the image's unprivileged "node" user; give it access to the Docker socket (its group) or DOCKER_HOST.
USER node
ENTRYPOINT ["node", "/app/bin/action-worker.js"]
