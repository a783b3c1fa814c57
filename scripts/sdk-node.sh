#!/usr/bin/env bash
# Installs Alibaba's official Node.js SDKs (pinned by scripts/sdk-node/
# package-lock.json) into .node-sdk, used by the emulator's interop test.
# Safe to run again: an install made from the same lockfile is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.node-sdk
command -v node >/dev/null || { echo "node is required by the Node.js SDK interop test" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is required to install the Node.js SDKs" >&2; exit 1; }
if [ -f "$dir/package-lock.json" ] && cmp -s "$dir/package-lock.json" scripts/sdk-node/package-lock.json \
    && [ -f "$dir/node_modules/@alicloud/ecs20140526/package.json" ] \
    && [ -f "$dir/node_modules/@alicloud/pop-core/package.json" ]; then
    exit 0
fi
mkdir -p "$dir"
cp scripts/sdk-node/package.json scripts/sdk-node/package-lock.json "$dir/"
# npm ci installs exactly the lockfile. Install scripts are not run: the only
# one (@alicloud/openapi-core's) picks TypeScript versions for Node 10 and 12.
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
