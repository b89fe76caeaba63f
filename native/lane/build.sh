#!/bin/sh
# `npm run build:native`: builds the optional native fast lane (build/Release/tenantgate_lane.node).
# Incremental: configures once (again only when binding.gyp changes), then `node-gyp build`.
# It never fails the build: without the module the proxy relays everything in JS.
cd "$(dirname "$0")" || exit 0
log=build.log
fail() {
  # a module left from an earlier build would no longer match the sources
  rm -f build/Release/tenantgate_lane.node
  echo "tenantgate: native fast lane not built ($1); the proxy runs without it"
  exit 0
}
# Use the headers installed with /usr/bin/node rather than downloading them (as .ci/run does).
case "${npm_config_nodedir:-}" in
  '' | undefined | null)
    if [ "$(command -v node)" = /usr/bin/node ] && [ -f /usr/include/node/node_api.h ]; then
      npm_config_nodedir=/usr
      export npm_config_nodedir
    fi ;;
esac
command -v node-gyp >/dev/null 2>&1 || fail "node-gyp not on PATH"
if [ ! -f build/Makefile ] || [ binding.gyp -nt build/Makefile ]; then
  node-gyp configure >"$log" 2>&1 || fail "node-gyp configure failed, see native/lane/$log"
fi
node-gyp build >>"$log" 2>&1 || fail "node-gyp build failed, see native/lane/$log"
exit 0
