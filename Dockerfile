# syntax=docker/dockerfile:1
# One image for every jobpipe role: the command picks it. It is the last stage, so the default
# target: `docker build .` builds it.
#
#   docker build -t jobpipe .
#   docker run --rm jobpipe --help
#   docker run --rm -e JOBPIPE_PIPELINE=/app/examples/primes/dist/pipeline.js jobpipe worker
#
# Your own pipeline: build FROM this image, COPY its compiled JavaScript under /app (so that
# `@jobpipe/pipeline` and the image's other packages resolve from /app/node_modules) and set
# JOBPIPE_PIPELINE to it. See docs/deployment.md.
#
# node is PID 1 and the direct entrypoint: every role handles SIGTERM itself (a worker drains, the
# others flush and close), and jobpipe starts no child processes, so there is nothing for an init
# such as tini to reap or forward. `docker run --init` adds one for ad-hoc commands if you like.
#
# The Python worker (workers/python) is an image of its own, the target python-worker:
#
#   docker build --target python-worker -t jobpipe-python-worker .
#   docker run --rm -e JOBPIPE_JOBS_CONNECT=tcp://... -e JOBPIPE_RESULTS_CONNECT=tcp://... \
#     jobpipe-python-worker jobpipe_worker.examples.primes

# --- the workspace manifests alone, so that dependency layers stay cached while sources change ---
FROM node:20-bookworm-slim AS manifests
WORKDIR /src
COPY . .
RUN mkdir -p /manifests \
 && cp package.json package-lock.json /manifests/ \
 && for w in $(node -p "require('./package.json').workspaces.join(' ')"); do \
      mkdir -p "/manifests/$w" && cp "$w/package.json" "/manifests/$w/"; \
    done

# --- build: every dependency, then tsc --build ---
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY --from=manifests /manifests/ ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.base.json ./
COPY libs libs
COPY apps apps
COPY cli cli
COPY examples examples
# /out: what the runtime needs of each workspace: its package.json (exports, "type") and dist/,
# plus the ledger's Lua commands and the console's UI files, read at run time.
RUN npx tsc --build \
 && mkdir -p /out \
 && for w in $(node -p "require('./package.json').workspaces.join(' ')"); do \
      mkdir -p "/out/$w" && cp -r "$w/package.json" "$w/dist" "/out/$w/"; \
    done \
 && cp -r libs/ledger/commands /out/libs/ledger/ \
 && cp -r apps/console/ui /out/apps/console/ \
 && find /out -name '*.tsbuildinfo' -delete \
 && chmod 755 /out/cli/dist/main.js

# --- production dependencies only ---
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY --from=manifests /manifests/ ./
# zeromq ships prebuilt addons for every platform: keep Linux's only, and not its C++ sources.
RUN npm ci --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/zeromq/build/darwin node_modules/zeromq/build/win32 node_modules/zeromq/src node_modules/zeromq/vcpkg.json node_modules/zeromq/CMakeLists.txt \
 && npm cache clean --force

# --- the Python worker: workers/python (package jobpipe_worker, which needs pyzmq only) ---
# Not a stage of the node image: `docker build --target python-worker`. Its entrypoint is
# `python3 -m jobpipe_worker`, its command the pipeline module it serves. It runs as uid 1000, as
# the node image does, so that it reads the same CURVE key files (compose's workers' volume
# curve-worker, mode 0600 and owned by uid 1000; Kubernetes' fsGroup 1000). python3 is PID 1 and
# handles SIGTERM itself.
FROM python:3.11-slim-bookworm AS python-worker
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY workers/python /tmp/jobpipe-worker
RUN pip install /tmp/jobpipe-worker \
 && rm -rf /tmp/jobpipe-worker \
 && groupadd --gid 1000 worker \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin worker \
 && mkdir /keys \
 && chown worker:worker /keys \
 && chmod 700 /keys
USER 1000:1000
# 9400: /metrics and /healthz (JOBPIPE_METRICS_PORT).
EXPOSE 9400
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('JOBPIPE_METRICS_PORT', '9400'), timeout=3)"]
ENTRYPOINT ["python3", "-m", "jobpipe_worker"]
CMD ["jobpipe_worker.examples.primes"]

# --- runtime ---
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /out/ ./
# /keys: where compose's `keys` service writes the CURVE keys, and /keys/<role>: where it mounts
# each role's own volume (ventilator, sink, worker, events), into which `keys --by-role` writes
# what that role reads. Owned by node, so that a fresh named volume mounted at any of them (Docker
# copies the image directory's owner and mode into it) is writable by the user the service runs
# as, and closed to other users.
RUN ln -s /app/cli/dist/main.js /usr/local/bin/jobpipe \
 && mkdir /keys /keys/ventilator /keys/sink /keys/worker /keys/events \
 && chown node:node /keys /keys/ventilator /keys/sink /keys/worker /keys/events \
 && chmod 700 /keys /keys/ventilator /keys/sink /keys/worker /keys/events
USER node
# 9400: /metrics, /healthz, /readyz. 5557: the ventilator's jobs. 5558, 5559: the sink's results and events.
EXPOSE 9400 5557 5558 5559
STOPSIGNAL SIGTERM
# Liveness: /healthz on JOBPIPE_METRICS_PORT. (Compose and Kubernetes add readiness on /readyz.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.JOBPIPE_METRICS_PORT||9400)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/cli/dist/main.js"]
CMD ["--help"]
