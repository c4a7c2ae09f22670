# One image for both processes: `npm run start:api` (default) or `npm run start:worker`.
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
# --ignore-scripts: the root's prepare builds the client SDK for developers (with dev tools); the
# API and the worker do not use it.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
ENV NODE_ENV=production RUNWAY_DATA_DIR=/data RUNWAY_WORKSPACES_DIR=/data/workspaces
RUN mkdir -p /data/workspaces && chown -R node:node /data
# Not root: sandboxed commands then run as the worker's own unprivileged uid, and
# RUNWAY_SETUP_MAX_PROCESSES applies (the kernel does not enforce RLIMIT_NPROC for root).
USER node
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["npm", "run", "start:api"]
