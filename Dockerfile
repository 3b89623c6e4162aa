# syntax=docker/dockerfile:1
# Two stages: "build" compiles the TypeScript and the WebAssembly kernels (AssemblyScript) with
# the dev dependencies; "runtime" holds only the production dependencies and the compiled output,
# and runs as the unprivileged node user under tini. `npm run image:check` reproduces the runtime
# stage without a Docker engine.
ARG NODE_IMAGE=node:24.20.0-trixie-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-wasm.ts ./scripts/
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# The durable registry's mount point, owned by node so that a new named volume inherits it.
RUN mkdir -p /var/lib/resnet-gradient/models && chown node:node /var/lib/resnet-gradient/models
USER node
EXPOSE 3000
# The slim image has no curl: the check is node's own fetch against the readiness endpoint.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tini is PID 1: it forwards SIGTERM to node and reaps zombies.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server.js"]
