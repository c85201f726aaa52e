#!/usr/bin/env bash
# Copy the bpmn-js viewer and the form-js viewer (from the @bpmn-io/form-js package, which
# ships the viewer as a browser bundle; @bpmn-io/form-js-viewer has only ES/CJS modules) into
# src/konvergo/inbox/static/inbox/vendor/, so that running Konvergo never needs Node.
#
# Usage:  scripts/vendor_viewers.sh            (needs node + npm and the npm registry)
# Versions are pinned below; bump them here, run the script, commit the copied files and
# update LICENSES.md if a licence changed. Both packages ship ready-made browser bundles
# (UMD: window.BpmnJS, window.FormViewer), so nothing is built, only copied.
set -euo pipefail

BPMN_JS_VERSION="18.31.1"
FORM_JS_VERSION="1.23.0"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/src/konvergo/inbox/static/inbox/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts \
  "bpmn-js@$BPMN_JS_VERSION" "@bpmn-io/form-js@$FORM_JS_VERSION" >/dev/null

rm -rf "$DEST/bpmn-js" "$DEST/form-js"
mkdir -p "$DEST/bpmn-js/assets" "$DEST/form-js"

BPMN="node_modules/bpmn-js"
cp "$BPMN/dist/bpmn-navigated-viewer.production.min.js" "$DEST/bpmn-js/"
cp "$BPMN/dist/assets/diagram-js.css" "$BPMN/dist/assets/bpmn-js.css" "$DEST/bpmn-js/assets/"
cp "$BPMN/LICENSE" "$DEST/bpmn-js/LICENSE"

FORM="node_modules/@bpmn-io/form-js"
cp "$FORM/dist/form-viewer.umd.js" "$DEST/form-js/"
cp "$FORM/dist/assets/form-js.css" "$DEST/form-js/"
cp "$FORM/LICENSE" "$DEST/form-js/LICENSE"

printf '%s\n' "bpmn-js $BPMN_JS_VERSION" "@bpmn-io/form-js $FORM_JS_VERSION (viewer bundle only)" > "$DEST/VERSIONS"
echo "Copied into $DEST:"
find "$DEST" -type f | sort
