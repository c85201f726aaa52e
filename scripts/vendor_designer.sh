#!/usr/bin/env bash
# Build the process designer's editors from their npm packages into
# src/konvergo/designer/static/designer/vendor/, so that running Konvergo never needs Node.
#
# Usage:  scripts/vendor_designer.sh      (needs node >= 18 + npm and the npm registry)
#
# Versions are pinned below; bump them here, run the script, commit the built files and update
# LICENSES.md if a licence changed. Everything is installed and bundled in a temporary
# directory with esbuild: one minified IIFE per tool, exposing one global each:
#   bpmn-modeler.js   window.KonvergoBpmnModeler  { Modeler, additionalModules, moddleExtensions,
#                                                   layoutProcess }
#                     (bpmn-js modeler + properties panel with the Camunda 7 (platform) provider,
#                      element templates, camunda-bpmn-moddle, camunda-bpmn-js-behaviors)
#   form-editor.js    window.KonvergoFormEditor   { FormEditor }   (@bpmn-io/form-js-editor)
#   dmn-modeler.js    window.KonvergoDmnModeler   { Modeler, moddleExtensions } (dmn-js)
#   bpmn-layout.js    window.KonvergoBpmnLayout   { layoutProcess } (bpmn-auto-layout: draws files
#                     that come without diagram coordinates, for the read-only viewer)
# plus the CSS and fonts each needs. The read-only bpmn-js and form-js viewers come from the
# inbox (scripts/vendor_viewers.sh) and are not duplicated here.
set -euo pipefail

BPMN_JS_VERSION="18.31.1"
PROPERTIES_PANEL_VERSION="5.65.3"
ELEMENT_TEMPLATES_VERSION="2.37.0"
CAMUNDA_MODDLE_VERSION="8.0.1"
CAMUNDA_BEHAVIORS_VERSION="1.18.0"
AUTO_LAYOUT_VERSION="1.3.0"
FORM_JS_VERSION="1.23.0"
DMN_JS_VERSION="17.10.2"
PANEL_CORE_VERSION="3.55.0"
CAMUNDA_DMN_MODDLE_VERSION="1.3.1"
ESBUILD_VERSION="0.28.2"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/src/konvergo/designer/static/designer/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts \
  "bpmn-js@$BPMN_JS_VERSION" \
  "bpmn-js-properties-panel@$PROPERTIES_PANEL_VERSION" \
  "@bpmn-io/properties-panel@$PANEL_CORE_VERSION" \
  "bpmn-js-element-templates@$ELEMENT_TEMPLATES_VERSION" \
  "camunda-bpmn-moddle@$CAMUNDA_MODDLE_VERSION" \
  "camunda-bpmn-js-behaviors@$CAMUNDA_BEHAVIORS_VERSION" \
  "bpmn-auto-layout@$AUTO_LAYOUT_VERSION" \
  "camunda-dmn-moddle@$CAMUNDA_DMN_MODDLE_VERSION" \
  "@bpmn-io/form-js-editor@$FORM_JS_VERSION" \
  "dmn-js@$DMN_JS_VERSION" \
  "esbuild@$ESBUILD_VERSION" >/dev/null
# esbuild's platform binary is installed by its postinstall script, skipped above.
node node_modules/esbuild/install.js

cat > bpmn.js <<'JS'
import Modeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule
} from 'bpmn-js-properties-panel';
import { ElementTemplatesPropertiesProviderModule } from 'bpmn-js-element-templates';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import { layoutProcess } from 'bpmn-auto-layout';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';
window.KonvergoBpmnModeler = {
  Modeler,
  additionalModules: [
    BpmnPropertiesPanelModule,
    BpmnPropertiesProviderModule,
    CamundaPlatformPropertiesProviderModule,
    ElementTemplatesPropertiesProviderModule,
    CamundaBehaviorsModule
  ],
  moddleExtensions: { camunda: camundaModdle },
  layoutProcess
};
JS

cat > layout.js <<'JS'
import { layoutProcess } from 'bpmn-auto-layout';
window.KonvergoBpmnLayout = { layoutProcess };
JS

cat > form.js <<'JS'
import { FormEditor } from '@bpmn-io/form-js-editor';
window.KonvergoFormEditor = { FormEditor };
JS

cat > dmn.js <<'JS'
import Modeler from 'dmn-js/lib/Modeler';
import camundaModdle from 'camunda-dmn-moddle/resources/camunda.json';
window.KonvergoDmnModeler = { Modeler, moddleExtensions: { camunda: camundaModdle } };
JS

BUILD=(node_modules/.bin/esbuild --bundle --minify --format=iife --target=es2020
       --legal-comments=none --define:process.env.NODE_ENV='"production"' --log-level=warning)
for tool in bpmn:bpmn-modeler layout:bpmn-layout form:form-editor dmn:dmn-modeler; do
  "${BUILD[@]}" "${tool%%:*}.js" --outfile="out/${tool##*:}.js" --metafile="out/${tool##*:}.meta.json"
done

# LICENSES.md is written by hand (it summarises the licences); everything else is rebuilt.
rm -rf "$DEST/bpmn" "$DEST/form" "$DEST/dmn" "$DEST/licenses" "$DEST/VERSIONS"
mkdir -p "$DEST/bpmn" "$DEST/form" "$DEST/dmn"
cp out/bpmn-modeler.js out/bpmn-layout.js "$DEST/bpmn/"
cp out/form-editor.js "$DEST/form/"
cp out/dmn-modeler.js "$DEST/dmn/"

# bpmn-js modeler: diagram-js + bpmn-js CSS, the bpmn icon font, the properties panel CSS.
cp node_modules/bpmn-js/dist/assets/diagram-js.css node_modules/bpmn-js/dist/assets/bpmn-js.css "$DEST/bpmn/"
cp -r node_modules/bpmn-js/dist/assets/bpmn-font "$DEST/bpmn/"
rm -f "$DEST"/bpmn/bpmn-font/font/*.svg "$DEST"/bpmn/bpmn-font/font/*.ttf "$DEST"/bpmn/bpmn-font/font/*.eot
rm -f "$DEST"/bpmn/bpmn-font/css/bpmn-codes.css "$DEST"/bpmn/bpmn-font/css/bpmn-embedded.css \
      "$DEST"/bpmn/bpmn-font/css/animation.css
cp node_modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css "$DEST/bpmn/"
cp node_modules/bpmn-js-element-templates/dist/assets/element-templates.css "$DEST/bpmn/" 2>/dev/null || true

# form-js editor: its CSS (the editor CSS includes what the embedded viewer needs).
cp node_modules/@bpmn-io/form-js-viewer/dist/assets/form-js.css "$DEST/form/"
cp node_modules/@bpmn-io/form-js-editor/dist/assets/form-js-editor.css "$DEST/form/"
cp node_modules/@bpmn-io/form-js-editor/dist/assets/properties-panel.css "$DEST/form/" 2>/dev/null || true

# dmn-js: its CSS and the dmn icon font.
for css in diagram-js.css dmn-js-shared.css dmn-js-drd.css dmn-js-decision-table.css \
           dmn-js-decision-table-controls.css dmn-js-literal-expression.css dmn-js-boxed-expression.css \
           dmn-js-boxed-expression-controls.css; do
  [ -f "node_modules/dmn-js/dist/assets/$css" ] && cp "node_modules/dmn-js/dist/assets/$css" "$DEST/dmn/"
done
cp -r node_modules/dmn-js/dist/assets/dmn-font "$DEST/dmn/"
rm -f "$DEST"/dmn/dmn-font/font/*.svg "$DEST"/dmn/dmn-font/font/*.ttf "$DEST"/dmn/dmn-font/font/*.eot
rm -f "$DEST"/dmn/dmn-font/css/dmn-codes.css "$DEST"/dmn/dmn-font/css/dmn-embedded.css \
      "$DEST"/dmn/dmn-font/css/animation.css

# Licences: each package's LICENSE next to the files built from it.
mkdir -p "$DEST/licenses"
for pkg in bpmn-js bpmn-js-properties-panel @bpmn-io/properties-panel bpmn-js-element-templates \
           camunda-bpmn-moddle camunda-bpmn-js-behaviors bpmn-auto-layout camunda-dmn-moddle @bpmn-io/form-js-editor @bpmn-io/form-js-viewer dmn-js \
           diagram-js; do
  name="$(echo "$pkg" | tr '/@' '__')"
  for f in LICENSE LICENSE.md license; do
    if [ -f "node_modules/$pkg/$f" ]; then cp "node_modules/$pkg/$f" "$DEST/licenses/$name.txt"; break; fi
  done
done

# Every npm package that ended up in a bundle, with its version and licence (from esbuild's
# metafiles), since the minified bundles carry no licence comments.
node - "$DEST/licenses/BUNDLED.md" <<'JS'
const fs = require('fs');
const path = require('path');
const out = process.argv[2];
const rows = new Map();
for (const file of fs.readdirSync('out').filter((f) => f.endsWith('.meta.json'))) {
  const bundle = file.replace('.meta.json', '.js');
  for (const input of Object.keys(JSON.parse(fs.readFileSync(path.join('out', file))).inputs)) {
    const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/g);
    if (!match) continue;
    const name = match[match.length - 1].replace('node_modules/', '');
    const dir = input.slice(0, input.lastIndexOf(match[match.length - 1]) + match[match.length - 1].length);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json')));
    const key = `${pkg.name}@${pkg.version}`;
    const row = rows.get(key) || { name: pkg.name, version: pkg.version, license: pkg.license || '?', bundles: new Set() };
    row.bundles.add(bundle);
    rows.set(key, row);
  }
}
const lines = ['# Packages inside the bundles', '', 'Generated by scripts/vendor_designer.sh from esbuild\'s metafiles.', '',
  '| package | version | licence | bundles |', '| --- | --- | --- | --- |'];
for (const row of [...rows.values()].sort((a, b) => a.name.localeCompare(b.name))) {
  lines.push(`| ${row.name} | ${row.version} | ${row.license} | ${[...row.bundles].sort().join(', ')} |`);
}
fs.writeFileSync(out, lines.join('\n') + '\n');
JS

{
  echo "bpmn-js $BPMN_JS_VERSION"
  echo "bpmn-js-properties-panel $PROPERTIES_PANEL_VERSION"
  echo "@bpmn-io/properties-panel $(node -p "require('@bpmn-io/properties-panel/package.json').version")"
  echo "bpmn-js-element-templates $ELEMENT_TEMPLATES_VERSION"
  echo "camunda-bpmn-moddle $CAMUNDA_MODDLE_VERSION"
  echo "camunda-bpmn-js-behaviors $CAMUNDA_BEHAVIORS_VERSION"
  echo "bpmn-auto-layout $AUTO_LAYOUT_VERSION"
  echo "camunda-dmn-moddle $(node -p "require('camunda-dmn-moddle/package.json').version")"
  echo "@bpmn-io/form-js-editor $FORM_JS_VERSION"
  echo "dmn-js $DMN_JS_VERSION"
  echo "esbuild $ESBUILD_VERSION (build only)"
} > "$DEST/VERSIONS"

echo "Built into $DEST:"
find "$DEST" -type f -printf '%8s  %P\n' | sort -k2
