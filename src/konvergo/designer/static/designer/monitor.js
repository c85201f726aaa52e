/* Monitoring diagrams (the inbox's bpmn-js viewer): per version, the number of running
   instances on each step and the duration heat map; per instance, the completed path and the
   current tokens. Files without diagram coordinates are laid out first. */
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function badge(text, className, title) {
    var node = document.createElement("span");
    node.className = className;
    node.textContent = text;
    if (title) node.title = title;
    return node;
  }

  function readable(seconds) {
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 90 * 60) return Math.round(seconds / 60) + " min";
    if (seconds < 36 * 3600) return (seconds / 3600).toFixed(1) + " h";
    return (seconds / 86400).toFixed(1) + " d";
  }

  function heatColour(heat) {
    // pale yellow (quick) to red (slowest), readable under black text
    var hue = Math.round(60 - 60 * heat);
    return "hsl(" + hue + ", 95%, " + Math.round(85 - 25 * heat) + "%)";
  }

  function decorate(viewer) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    var stats = readJson("kv-stats");
    if (stats) {
      Object.keys(stats.durations).forEach(function (id) {
        var d = stats.durations[id];
        if (!registry.get(id)) return;
        var node = badge("⌀ " + readable(d.mean) + " · p90 " + readable(d.p90), "kv-heat");
        node.style.background = heatColour(d.heat);
        overlays.add(id, "kv-heat", { position: { bottom: 4, left: 0 }, html: node });
      });
      Object.keys(stats.counts).forEach(function (id) {
        var c = stats.counts[id];
        if (!registry.get(id)) return;
        var waiting = c.tasks + c.timers + c.messages;
        if (waiting) overlays.add(id, "kv-token", { position: { top: -10, right: 10 }, html: badge(String(waiting), "kv-token", "") });
        if (c.incidents) {
          canvas.addMarker(id, "kv-incident");
          overlays.add(id, "kv-token", { position: { top: -10, left: -10 }, html: badge(String(c.incidents), "kv-token kv-token-incident", "") });
        }
      });
    }
    var path = readJson("kv-path");
    var tokens = readJson("kv-tokens");
    if (path) path.forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, "kv-done"); });
    if (tokens) {
      ["tasks", "timers", "messages"].forEach(function (kind) {
        tokens[kind].forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, "kv-current"); });
      });
      tokens.incidents.forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, "kv-incident"); });
    }
  }

  var box = document.getElementById("kv-monitor");
  if (!box || typeof window.BpmnJS === "undefined") return;
  var viewer = new window.BpmnJS({ container: box });
  fetch(box.dataset.xmlUrl, { credentials: "same-origin" })
    .then(function (response) { return response.text(); })
    .then(function (xml) {
      if (xml.indexOf("BPMNDiagram") !== -1 || !window.KonvergoBpmnLayout) return xml;
      return window.KonvergoBpmnLayout.layoutProcess(xml);
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      viewer.get("canvas").zoom("fit-viewport", "auto");
      decorate(viewer);
      box.dataset.ready = "true";
    })
    .catch(function (error) {
      box.textContent = String(error && error.message || error);
      box.dataset.ready = "error";
    });
}());
