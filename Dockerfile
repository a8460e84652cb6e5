# The adapter as a container: the same `npm ci --omit=dev` path that .ci/production-start.sh tests on
# a clean clone. Build: docker build -t khe-trial-fhir-adapter .   Run with PostgreSQL: compose.yaml.

# Stage 1: production dependencies only (esbuild and the Node 24 runtime package included).
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 2: the runtime image: the source (Node 24 runs TypeScript by stripping types), the trial
# definition and profiles, the docs served at /docs; no dev tools, no tests.
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY package.json package-lock.json README.md ./
COPY src ./src
COPY mappings ./mappings
COPY profiles ./profiles
COPY docs ./docs
# The embedded store (when DATABASE_URL is not set) lives in /data, the
# only folder the service may write; it runs as the image's unprivileged `node` user.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# Six failed probes (90 s) before unhealthy also covers start-up: dockerfilelint does not know
# --start-period yet.
HEALTHCHECK --interval=15s --timeout=5s --retries=6 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node itself as PID 1 (not npm), so SIGTERM reaches the service and it drains before exiting.
CMD ["node", "src/main.ts"]
