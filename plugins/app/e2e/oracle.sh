#!/usr/bin/env bash
# Runs the same journeys and client tests against the real Backstage backend
# (the oracle of ../shared/oracle, release 1.55), to show that they test real
# Backstage behaviour. Not part of `make test`: it needs the oracle harness.
#
# A private copy of the oracle (ORACLE_HOME, default /tmp/oracle-app-e2e) is
# given understage's example catalog and started on ORACLE_PORT; the built
# app is served by the frontend harness's serve.mjs, which proxies /api/* to
# it (same origin, as with understage).
#
#   LINES="1.45 latest" plugins/app/e2e/oracle.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
LINES="${LINES:-1.45 latest}"
# The client tests first: they leave the catalog as they found it, the
# journeys register entities.
TESTS="${TESTS:-clients journeys}"
ORACLE_FROM="${ORACLE_FROM:-/root/.cache/understage-harness/oracle}"
FRONTEND_HARNESS="${FRONTEND_HARNESS:-$repo/../shared/frontend}"
export ORACLE_HOME="${ORACLE_HOME:-/tmp/oracle-app-e2e}"
export ORACLE_PORT="${ORACLE_PORT:-7151}"
APP_PORT="${APP_PORT:-3151}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -d "$ORACLE_HOME/node_modules" ]]; then
	echo "== copying the oracle from $ORACLE_FROM to $ORACLE_HOME"
	mkdir -p "$ORACLE_HOME"
	(cd "$ORACLE_FROM" && tar --exclude=./data --exclude=./logs --exclude=./oracle.pid -cf - .) | tar -C "$ORACLE_HOME" -xf -
	chmod -R u+w "$ORACLE_HOME"
fi
# The oracle's own config with understage's example catalog instead of its
# fixtures.
cfg="$ORACLE_HOME/app-config.yaml"
sed -i '/^catalog:/,$d' "$cfg"
cat >>"$cfg" <<YAML
catalog:
  processingInterval: \${ORACLE_PROCESSING_INTERVAL}
  rules:
    - allow: [Component, System, API, Resource, Location, Template, Group, User, Domain]
  locations:
    - type: file
      target: $repo/examples/catalog/all.yaml
    - type: file
      target: $repo/examples/templates/node-service/template.yaml
    - type: file
      target: $repo/examples/templates/go-library/template.yaml
    - type: file
      target: $repo/examples/templates/broken/template.yaml
YAML

servepid=""
stop() {
	if [[ -n "$servepid" ]]; then kill "$servepid" 2>/dev/null || true; wait "$servepid" 2>/dev/null || true; fi
	"$ORACLE_HOME/stop.sh" >/dev/null 2>&1 || true
}
trap stop EXIT
"$ORACLE_HOME/stop.sh" >/dev/null 2>&1 || true
"$ORACLE_HOME/start.sh"
for _ in $(seq 1 60); do
	curl -fs "http://127.0.0.1:$ORACLE_PORT/api/catalog/entities/by-name/component/default/order-worker" >/dev/null && break
	sleep 0.5
done

t0=$(date +%s)
status=0
for line in $LINES; do
	"$repo/plugins/app/build.sh" "$line"
	DIST="$repo/plugins/app/web/$line/packages/app/dist" PORT="$APP_PORT" PROXY_BACKEND="http://127.0.0.1:$ORACLE_PORT" \
		node "$FRONTEND_HARNESS/serve.mjs" >"$here/artifacts/serve-oracle-$line.log" 2>&1 &
	servepid=$!
	sleep 1
	for t in $TESTS; do
		echo "== oracle: $t, app line $line"
		APP_LINE="$line" APP_URL="http://127.0.0.1:$APP_PORT" TARGET=oracle \
			node --test --test-concurrency=1 --test-reporter=spec "$here/$t.test.mjs" || status=1
	done
	kill "$servepid"; wait "$servepid" 2>/dev/null || true; servepid=""
	TESTS="${TESTS/clients/}"
done
echo "== oracle: total $(($(date +%s) - t0))s"
exit $status
