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
# The client tests first: they leave the catalog as they found it, the
# journeys register entities.
TESTS="${TESTS:-clients journeys}"
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

giturl() { echo "http://127.0.0.1:$E2E_GIT_PORT/$1/catalog-info.yaml#main:catalog-info.yaml"; }

# gitrepo NAME FILE: a repository NAME/catalog-info.yaml holding FILE as
# catalog-info.yaml.
gitrepo() {
	local dir="$data/git/$1/catalog-info.yaml"
	mkdir -p "$dir"
	cp "$2" "$dir/catalog-info.yaml"
	git -C "$dir" init -q -b main
	git -C "$dir" add catalog-info.yaml
	git -C "$dir" -c user.name=e2e -c user.email=e2e@understage.invalid commit -q -m "catalog-info.yaml"
}

# start LINE: a fresh understage serving that line's build, ready and with
# the example catalog processed.
start() {
	data=$(mktemp -d /tmp/understage-e2e.XXXXXX)
	# Git repositories on a plain git host, served over smart HTTP (the
	# import page takes http(s) URLs only): one for "Register existing
	# component", one for the client test's locations, one a template run
	# registers, and one holding that template. The import page takes a URL
	# only when its path ends in .yaml (or it has a ?path= query, which the
	# git reader would send to the git host), so each repository's own name
	# ends in .yaml.
	gitrepo payments "$here/fixtures/payments-catalog-info.yaml"
	gitrepo ledger "$here/fixtures/clients-catalog-info.yaml"
	gitrepo newsvc "$here/fixtures/newsvc-catalog-info.yaml"
	sed "s/GIT_PORT/$E2E_GIT_PORT/" "$here/fixtures/register-template.yaml" >"$data/register-template.yaml"
	gitrepo e2e-template "$data/register-template.yaml"
	export E2E_REPO_URL="$(giturl payments)"
	export E2E_CLIENT_REPO_URL="$(giturl ledger)"
	GIT_ROOT="$data/git" PORT="$E2E_GIT_PORT" node "$here/git-http.mjs" &
	gitpid=$!
	mkdir -p "$here/artifacts"
	E2E_DATA="$data" APP_DIST="$repo/plugins/app/web/$1/packages/app/dist" \
		"$BIN" serve --config examples/app-config.yaml --config plugins/app/e2e/app-config.yaml \
		--log-level warn >"$here/artifacts/understage-$1.log" 2>&1 &
	pid=$!
	local url="http://127.0.0.1:$E2E_PORT" ready=""
	for _ in $(seq 1 120); do
		if curl -fs "$url/api/catalog/entities/by-name/template/default/node-service" >/dev/null 2>&1 &&
			curl -fs "$url/api/catalog/entities/by-name/component/default/order-worker" >/dev/null 2>&1; then
			ready=1
			break
		fi
		kill -0 "$pid" 2>/dev/null || { cat "$here/artifacts/understage-$1.log" >&2; return 1; }
		sleep 0.5
	done
	if [[ -z "$ready" ]]; then
		echo "e2e: understage did not load the example catalog" >&2
		return 1
	fi
	# The template that registers a repository, from the git host.
	curl -fsS -o /dev/null -X POST -H 'content-type: application/json' "$url/api/catalog/locations" \
		-d "{\"type\":\"url\",\"target\":\"$(giturl e2e-template)\"}"
	for _ in $(seq 1 60); do
		curl -fs "$url/api/catalog/entities/by-name/template/default/register-e2e" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	echo "e2e: the register-e2e template did not appear" >&2
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
