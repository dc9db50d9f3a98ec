#!/usr/bin/env bash
# Installs (npm ci) and builds one line of the stock Backstage app kept under
# plugins/app/web/<line>. Cached: npm ci runs only when the lock files changed
# since the last install, the build only when an input is newer than
# dist/index.html. FORCE=1 redoes both.
#
#   plugins/app/build.sh latest    # default line
#   plugins/app/build.sh 1.45
set -euo pipefail
line="${1:-${APP_LINE:-latest}}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/web/$line"
if [[ ! -f "$root/package.json" ]]; then
	echo "unknown app line '$line' (have: $(ls "$here/web" | tr '\n' ' '))" >&2
	exit 2
fi
cd "$root"

stamp=node_modules/.understage-lock.sha
want=$(cat package-lock.json package.json packages/app/package.json | sha256sum | cut -d' ' -f1)
if [[ "${FORCE:-}" == 1 || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
	echo "== npm ci ($root)"
	# .npmrc sets legacy-peer-deps: MUI v4's peer ranges exclude React 18,
	# which yarn (create-app's default) only warns about.
	npm ci --no-audit --no-fund --loglevel=error
	echo "$want" >"$stamp"
fi

dist=packages/app/dist
newest=$(find app-config.yaml package-lock.json packages/app/src packages/app/public packages/app/package.json \
	-type f -printf '%T@\n' | sort -n | tail -1)
if [[ "${FORCE:-}" == 1 || ! -f "$dist/index.html" ]] ||
	awk -v a="$newest" -v b="$(stat -c %Y "$dist/index.html")" 'BEGIN{exit !(a>b)}'; then
	echo "== backstage-cli package build ($root/packages/app)"
	# The CLI lists every output file; show the rest of its output.
	if ! (cd packages/app && npx --no-install backstage-cli package build) >build.log 2>&1; then
		cat build.log >&2
		exit 1
	fi
	grep -v ' dist/static/' build.log || true
fi
echo "== app $line: $root/$dist"
