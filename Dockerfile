# One image for both processes: `npm run start:api` (default) or `npm run start:worker`.

# The console (served by the API at /console) is built with dev tools (Vite, TypeScript,
# openapi-typescript for the SDK it uses) that the runtime image leaves out: built here, and only
# its static files are copied into the image.
FROM node:20-bookworm-slim AS console
WORKDIR /build
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
COPY packages/console/package.json ./packages/console/
# --ignore-scripts: prepare would build before the sources are copied (it runs below instead).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
# Sources only (a developer's node_modules or dist must not come along).
COPY packages/client/tsconfig.json ./packages/client/
COPY packages/client/src ./packages/client/src
COPY packages/console/index.html packages/console/tsconfig.json packages/console/vite.config.ts ./packages/console/
COPY packages/console/src ./packages/console/src
RUN npm run build:client && npm run build:console

FROM node:20-bookworm-slim
# git clones workspaces; bubblewrap sandboxes setup commands and CLI agents, slirp4netns and
# iproute2 (`ip`, run inside the sandbox) give networked sandboxes their own confined network;
# tini reaps agent process trees. util-linux (setpriv, prlimit) is part of the base image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap slirp4netns iproute2 ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
COPY packages/console/package.json ./packages/console/
# --ignore-scripts: the root's prepare builds the client SDK and the console with dev tools; the
# console's files come from the build stage above, and the API and the worker do not use the SDK.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY --from=console /build/packages/console/dist ./packages/console/dist
ENV NODE_ENV=production RUNWAY_DATA_DIR=/data RUNWAY_WORKSPACES_DIR=/data/workspaces
RUN mkdir -p /data/workspaces && chown -R node:node /data
# Not root: sandboxed commands then run as the worker's own unprivileged uid, and
# RUNWAY_SETUP_MAX_PROCESSES applies (the kernel does not enforce RLIMIT_NPROC for root).
USER node
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["npm", "run", "start:api"]
