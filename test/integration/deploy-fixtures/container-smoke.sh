# Runs inside the built image (as its USER, in its WORKDIR), on the host's network:
#
#   docker run --rm --network host --entrypoint sh jobpipe:latest -c "$(cat test/integration/deploy-fixtures/container-smoke.sh)"
#
# 1. starts the sink as the image's entrypoint would (node /app/cli/dist/main.js sink), waits for
#    /readyz, runs the image's own HEALTHCHECK command against it, reads /metrics, stops it with
#    SIGTERM and requires exit code 0;
# 2. runs `jobpipe demo` (ventilator, 3 workers and a sink as processes of the image, on the primes
#    example, answer checked against a sieve), which exits 0 only when the answer is right.
# Ports are unusual ones: the container shares the host's network here.
set -eu
echo "smoke: $(id -un) in $(pwd), node $(node --version)"
export JOBPIPE_PIPELINE=/app/examples/primes/dist/pipeline.js JOBPIPE_METRICS_PORT=19400
export JOBPIPE_RESULTS_BIND=tcp://127.0.0.1:19558 JOBPIPE_EVENTS_BIND=tcp://127.0.0.1:19559 JOBPIPE_LOG_LEVEL=warn
node /app/cli/dist/main.js sink &
pid=$!
tries=0
until node -e "fetch('http://127.0.0.1:19400/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; do
  tries=$((tries + 1)); [ "$tries" -lt 100 ] || { echo "smoke: sink not ready"; exit 1; }; sleep 0.2
done
echo "smoke: sink ready after $tries polls"
# The HEALTHCHECK of the Dockerfile, verbatim:
node -e "fetch('http://127.0.0.1:'+(process.env.JOBPIPE_METRICS_PORT||9400)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
echo "smoke: HEALTHCHECK command exits 0"
node -e "fetch('http://127.0.0.1:19400/metrics').then(r=>r.text()).then(t=>{const l=t.split('\n').filter(x=>x.startsWith('jobpipe_'));console.log('smoke: /metrics has '+l.length+' jobpipe_ samples, e.g. '+l[0]);process.exit(l.length>0?0:1)})"
kill -TERM "$pid"
code=0; wait "$pid" || code=$?
echo "smoke: sink exited with $code after SIGTERM"
[ "$code" -eq 0 ]
unset JOBPIPE_METRICS_PORT JOBPIPE_RESULTS_BIND JOBPIPE_EVENTS_BIND JOBPIPE_PIPELINE JOBPIPE_LOG_LEVEL
jobpipe demo
echo "smoke: all good"
