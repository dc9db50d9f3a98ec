#!/usr/bin/env bash
# Browser journeys of the stock app (each line in LINES) against a fresh
# understage with the example catalog, then the published Backstage clients
# against it. Needs Chromium (CHROMIUM, default /usr/bin/chromium) and npm;
# without them the run is skipped with a notice, unless CI=true.
#
#   LINES="1.45 latest" plugins/app/e2e/run.sh
#   TESTS=journeys plugins/app/e2e/run.sh      # only the browser tests
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$repo"
LINES="${LINES:-1.45 latest}"
TESTS="${TESTS:-journeys clients}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export E2E_PORT="${E2E_PORT:-7181}"
export E2E_GIT_PORT="${E2E_GIT_PORT:-7182}"
BIN="${BIN:-$repo/bin/understage}"

missing=""
[[ -x "$CHROMIUM" ]] || missing="$missing chromium($CHROMIUM)"
command -v npm >/dev/null || missing="$missing npm"
if [[ -n "$missing" ]]; then
	if [[ "${CI:-}" == true ]]; then
		echo "e2e: missing$missing (CI=true: failing; .ci/run installs them)" >&2
		exit 1
	fi
	echo "e2e: SKIPPED: missing$missing (apt-get install -y chromium to run the browser tests)"
	exit 0
fi

t0=$(date +%s)
stamp="$here/node_modules/.understage-lock.sha"
want=$(cat "$here/package-lock.json" "$here/package.json" | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
	echo "$want" >"$stamp"
fi

pid=""
gitpid=""
data=""
stop() {
	if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi
	if [[ -n "$gitpid" ]]; then kill "$gitpid" 2>/dev/null || true; wait "$gitpid" 2>/dev/null || true; gitpid=""; fi
	if [[ -n "$data" ]]; then rm -rf "$data"; data=""; fi
}
trap stop EXIT

# start LINE: a fresh understage serving that line's build, ready and with
# the example catalog processed.
start() {
	data=$(mktemp -d /tmp/understage-e2e.XXXXXX)
	# A git repository for "Register existing component", served over
	# smart HTTP (the import page takes http(s) URLs only).
	# The import page takes a URL only when its path ends in .yaml (or it has
	# a ?path= query, which the git reader would send to the git host), so
	# the repository's own name ends in .yaml.
	local gitrepo="$data/git/payments/catalog-info.yaml"
	mkdir -p "$gitrepo"
	cp "$here/fixtures/payments-catalog-info.yaml" "$gitrepo/catalog-info.yaml"
	git -C "$gitrepo" init -q -b main
	git -C "$gitrepo" add catalog-info.yaml
	git -C "$gitrepo" -c user.name=e2e -c user.email=e2e@understage.invalid commit -q -m "catalog-info.yaml"
	# A second one for the catalog-client test's locations.
	local clientrepo="$data/git/ledger/catalog-info.yaml"
	mkdir -p "$clientrepo"
	cp "$here/fixtures/clients-catalog-info.yaml" "$clientrepo/catalog-info.yaml"
	git -C "$clientrepo" init -q -b main
	git -C "$clientrepo" add catalog-info.yaml
	git -C "$clientrepo" -c user.name=e2e -c user.email=e2e@understage.invalid commit -q -m "catalog-info.yaml"
	export E2E_CLIENT_REPO_URL="http://127.0.0.1:$E2E_GIT_PORT/ledger/catalog-info.yaml#main:catalog-info.yaml"
	GIT_ROOT="$data/git" PORT="$E2E_GIT_PORT" node "$here/git-http.mjs" &
	gitpid=$!
	export E2E_REPO_URL="http://127.0.0.1:$E2E_GIT_PORT/payments/catalog-info.yaml#main:catalog-info.yaml"
	mkdir -p "$here/artifacts"
	E2E_DATA="$data" APP_DIST="$repo/plugins/app/web/$1/packages/app/dist" \
		"$BIN" serve --config examples/app-config.yaml --config plugins/app/e2e/app-config.yaml \
		--log-level warn >"$here/artifacts/understage-$1.log" 2>&1 &
	pid=$!
	local url="http://127.0.0.1:$E2E_PORT"
	for _ in $(seq 1 120); do
		if curl -fs "$url/api/catalog/entities/by-name/template/default/node-service" >/dev/null 2>&1 &&
			curl -fs "$url/api/catalog/entities/by-name/component/default/order-worker" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || { cat "$here/artifacts/understage-$1.log" >&2; return 1; }
		sleep 0.5
	done
	echo "e2e: understage did not load the example catalog" >&2
	return 1
}

status=0
for line in $LINES; do
	plugins/app/build.sh "$line"
	start "$line"
	t1=$(date +%s)
	for t in $TESTS; do
		echo "== e2e: $t, app line $line, understage on :$E2E_PORT"
		APP_LINE="$line" APP_URL="http://127.0.0.1:$E2E_PORT" TARGET=understage \
			node --test --test-concurrency=1 --test-reporter=spec "$here/$t.test.mjs" || status=1
	done
	echo "== e2e: line $line took $(($(date +%s) - t1))s"
	stop
	# The client tests do not depend on the app line: once is enough.
	TESTS="${TESTS/clients/}"
done
echo "== e2e: total $(($(date +%s) - t0))s"
exit $status
