/* The process designer: bpmn-js modeler with the Camunda 7 properties panel and our connectors
   as element templates, the form-js editor for user-task forms, dmn-js for decision tables,
   save / check / deploy against /api/v1/designer (problems shown on their elements), import
   and export of files, and a sandbox test run that shows the path taken. */
(function () {
  "use strict";

  var root = document.getElementById("kv-designer");
  if (!root) return;
  var API = root.dataset.api;
  var DRAFT = root.dataset.draftId;
  var MAY_EDIT = root.dataset.mayEdit === "true";
  var T = document.getElementById("kv-texts").dataset;
  var K = window.KonvergoBpmnModeler;

  var state = {
    revision: Number(root.dataset.revision),
    forms: {},
    dmn: {},
    formName: null,
    formEditor: null,
    dmnName: null,
    dmnModeler: null,
    dirty: false,
    run: null
  };

  // --- helpers --------------------------------------------------------------------------------

  function csrfToken() {
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function api(method, path, body) {
    return fetch(API + path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error((data.error && data.error.message) || response.statusText);
          error.status = response.status;
          error.details = data.error && data.error.details;
          throw error;
        }
        return data;
      });
    });
  }

  function status(text) { document.getElementById("kv-status").textContent = text || ""; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = el("script", { src: src });
      script.onload = resolve;
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  function loadCss(hrefs) {
    hrefs.split(" ").filter(Boolean).forEach(function (href) {
      document.head.appendChild(el("link", { rel: "stylesheet", href: href }));
    });
  }

  function download(name, text, type) {
    var url = URL.createObjectURL(new Blob([text], { type: type }));
    var link = el("a", { href: url, download: name });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  function withLayout(xml) {
    // Files without diagram coordinates (hand-written, or from other tools) are laid out.
    if (xml.indexOf("BPMNDiagram") !== -1) return Promise.resolve(xml);
    return K.layoutProcess(xml);
  }

  // --- the BPMN modeler -----------------------------------------------------------------------

  var modeler;

  function createModeler(templates) {
    modeler = new K.Modeler({
      container: "#kv-canvas",
      propertiesPanel: { parent: "#kv-properties" },
      additionalModules: K.additionalModules,
      moddleExtensions: K.moddleExtensions,
      elementTemplates: templates,
      keyboard: { bindTo: document }
    });
    modeler.on("commandStack.changed", function () {
      state.dirty = true;
      status(T.unsaved);
    });
    window.kvDesigner = { modeler: modeler, state: state };
  }

  function importBpmn(xml) {
    return withLayout(xml).then(function (laid) { return modeler.importXML(laid); }).then(function () {
      modeler.get("canvas").zoom("fit-viewport", "auto");
    });
  }

  function currentXml() {
    return modeler.saveXML({ format: true }).then(function (result) { return result.xml; });
  }

  // --- problems on their elements ---------------------------------------------------------------

  function clearProblems() {
    var overlays = modeler.get("overlays");
    var canvas = modeler.get("canvas");
    overlays.remove({ type: "kv-problem" });
    modeler.get("elementRegistry").forEach(function (element) { canvas.removeMarker(element.id, "kv-problem"); });
    var box = document.getElementById("kv-problems");
    box.classList.add("d-none");
    box.textContent = "";
  }

  function showProblems(problems) {
    clearProblems();
    if (!problems || !problems.length) return;
    var registry = modeler.get("elementRegistry");
    var canvas = modeler.get("canvas");
    var overlays = modeler.get("overlays");
    var box = document.getElementById("kv-problems");
    box.appendChild(el("p", { "class": "mb-1 fw-semibold" }, T.problems));
    var list = el("ul", { "class": "mb-0" });
    problems.forEach(function (problem) {
      var element = problem.element_id && registry.get(problem.element_id);
      var item = el("li", { "data-element-id": problem.element_id || "" });
      var label = problem.element_id || T.whole;
      if (element && element.businessObject && element.businessObject.name) label = element.businessObject.name + " (" + problem.element_id + ")";
      item.appendChild(el("strong", {}, label + ": "));
      item.appendChild(document.createTextNode(problem.message));
      list.appendChild(item);
      if (element) {
        canvas.addMarker(problem.element_id, "kv-problem");
        overlays.add(problem.element_id, "kv-problem", {
          position: { top: -14, left: 0 },
          html: el("div", { "class": "kv-problem-badge", title: problem.message }, problem.message)
        });
        item.style.cursor = "pointer";
        item.addEventListener("click", function () { modeler.get("selection").select(element); });
      }
    });
    box.appendChild(list);
    box.classList.remove("d-none");
  }

  // --- forms ------------------------------------------------------------------------------------

  function formEditorReady() {
    if (window.KonvergoFormEditor) return Promise.resolve();
    loadCss(root.dataset.formEditorCss);
    return loadScript(root.dataset.formEditorJs);
  }

  function flushForm() {
    if (state.formEditor && state.formName) {
      state.forms[state.formName] = JSON.stringify(state.formEditor.saveSchema(), null, 2);
    }
  }

  function fillSelect(select, names, current) {
    select.textContent = "";
    names.sort().forEach(function (name) {
      var option = el("option", { value: name }, name);
      if (name === current) option.selected = true;
      select.appendChild(option);
    });
  }

  function showForm(name) {
    return formEditorReady().then(function () {
      flushForm();
      state.formName = name;
      fillSelect(document.getElementById("kv-form-select"), Object.keys(state.forms), name);
      if (!name) return;
      if (!state.formEditor) {
        state.formEditor = new window.KonvergoFormEditor.FormEditor({ container: "#kv-form-editor" });
        state.formEditor.on("changed", function () { state.dirty = true; });
      }
      var schema;
      try { schema = JSON.parse(state.forms[name]); } catch (e) { schema = { type: "default", components: [] }; }
      return state.formEditor.importSchema(schema);
    }).catch(function (error) { status(String(error.message || error)); });
  }

  function newForm() {
    var name = window.prompt(T.formName, "new_form.form");
    if (!name) return;
    if (!/\.form$/.test(name)) name += ".form";
    var id = name.replace(/\.form$/, "").replace(/[^A-Za-z0-9_-]/g, "_");
    state.forms[name] = JSON.stringify({ type: "default", id: id, schemaVersion: 16, components: [] });
    state.dirty = true;
    showForm(name);
  }

  // --- decision tables ------------------------------------------------------------------------

  var BLANK_DMN = function (id) {
    return '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" xmlns:dmndi="https://www.omg.org/spec/DMN/20191111/DMNDI/" xmlns:dc="http://www.omg.org/spec/DMN/20180521/DC/" id="' + id + '_defs" name="' + id + '" namespace="https://konvergo.example/processes">\n' +
      '  <decision id="' + id + '" name="' + id + '">\n' +
      '    <decisionTable id="' + id + '_table" hitPolicy="UNIQUE">\n' +
      '      <input id="' + id + '_in" label="Input"><inputExpression id="' + id + '_in_expr" typeRef="double"><text>amount</text></inputExpression></input>\n' +
      '      <output id="' + id + '_out" label="Output" name="result" typeRef="string" />\n' +
      '    </decisionTable>\n  </decision>\n' +
      '  <dmndi:DMNDI><dmndi:DMNDiagram id="' + id + '_diagram"><dmndi:DMNShape id="' + id + '_shape" dmnElementRef="' + id + '"><dc:Bounds height="80" width="180" x="160" y="100" /></dmndi:DMNShape></dmndi:DMNDiagram></dmndi:DMNDI>\n' +
      '</definitions>\n';
  };

  function dmnReady() {
    if (window.KonvergoDmnModeler) return Promise.resolve();
    loadCss(root.dataset.dmnCss);
    return loadScript(root.dataset.dmnJs);
  }

  function flushDmn() {
    if (!state.dmnModeler || !state.dmnName) return Promise.resolve();
    var name = state.dmnName;
    return state.dmnModeler.saveXML({ format: true }).then(function (result) { state.dmn[name] = result.xml; });
  }

  function showDmn(name) {
    return dmnReady().then(flushDmn).then(function () {
      state.dmnName = name;
      fillSelect(document.getElementById("kv-dmn-select"), Object.keys(state.dmn), name);
      if (!name) return;
      if (!state.dmnModeler) {
        state.dmnModeler = new window.KonvergoDmnModeler.Modeler({
          container: "#kv-dmn-editor",
          moddleExtensions: window.KonvergoDmnModeler.moddleExtensions
        });
        state.dmnModeler.on("views.changed", function () { state.dirty = true; });
      }
      return state.dmnModeler.importXML(state.dmn[name]).then(function () {
        // Open the decision table itself rather than the requirements diagram.
        var views = state.dmnModeler.getViews();
        var table = views.filter(function (view) { return view.type === "decisionTable"; })[0];
        if (table) return state.dmnModeler.open(table);
      });
    }).catch(function (error) { status(String(error.message || error)); });
  }

  function newDmn() {
    var name = window.prompt(T.dmnName, "decision.dmn");
    if (!name) return;
    if (!/\.dmn$/.test(name)) name += ".dmn";
    var id = name.replace(/\.dmn$/, "").replace(/[^A-Za-z0-9_]/g, "_").replace(/^([0-9])/, "d_$1");
    state.dmn[name] = BLANK_DMN(id);
    state.dirty = true;
    showDmn(name);
  }

  // --- save, check, deploy --------------------------------------------------------------------

  function payload() {
    flushForm();
    return flushDmn().then(currentXml).then(function (xml) {
      return { revision: state.revision, bpmn_xml: xml, dmn: state.dmn, forms: state.forms };
    });
  }

  function save() {
    status(T.saving);
    return payload().then(function (body) {
      return api("PUT", "/drafts/" + DRAFT, body);
    }).then(function (draft) {
      state.revision = draft.revision;
      state.dirty = false;
      showProblems(draft.problems);
      status(T.saved + (draft.problems.length ? "" : " " + T.valid));
      return draft;
    }).catch(function (error) {
      if (error.status === 409) status(T.conflict);
      else {
        showProblems([{ element_id: (error.details && error.details.element_id) || "", message: error.message }]);
        status("");
      }
      throw error;
    });
  }

  function check() {
    return payload().then(function (body) {
      return api("POST", "/drafts/" + DRAFT + "/validate", body);
    }).then(function (problems) {
      showProblems(problems);
      status(problems.length ? "" : T.valid);
    }).catch(function (error) { showProblems([{ element_id: "", message: error.message }]); });
  }

  function deploy() {
    var box = document.getElementById("kv-deployed");
    box.classList.add("d-none");
    return save().then(function (draft) {
      if (draft.problems.length) return;
      return api("POST", "/drafts/" + DRAFT + "/deploy").then(function (result) {
        box.textContent = T.deployed + " " + result.version + ". ";
        box.appendChild(el("a", { href: result.monitor_url, "data-testid": "monitor-link" }, T.monitor));
        box.classList.remove("d-none");
      }).catch(function (error) {
        showProblems((error.details && error.details.problems) || [{ element_id: (error.details && error.details.element_id) || "", message: error.message }]);
      });
    }).catch(function () { /* shown by save() */ });
  }

  // --- import and export ----------------------------------------------------------------------

  function importFiles(files) {
    Array.prototype.forEach.call(files, function (file) {
      file.text().then(function (text) {
        if (/\.dmn$/i.test(file.name)) {
          state.dmn[file.name] = text;
          state.dirty = true;
          return showDmn(file.name);
        }
        if (/\.(form|json)$/i.test(file.name)) {
          var name = file.name.replace(/\.json$/i, ".form");
          state.forms[name] = text;
          state.dirty = true;
          return showForm(name);
        }
        return importBpmn(text).then(function () { state.dirty = true; status(T.unsaved); });
      }).catch(function (error) { showProblems([{ element_id: "", message: file.name + ": " + (error.message || error) }]); });
    });
  }

  // --- sandbox --------------------------------------------------------------------------------

  var sandboxViewer = null;

  function sandboxDiagram(xml, run) {
    var show = function () {
      var canvas = sandboxViewer.get("canvas");
      var registry = sandboxViewer.get("elementRegistry");
      registry.forEach(function (element) {
        canvas.removeMarker(element.id, "kv-done");
        canvas.removeMarker(element.id, "kv-current");
        canvas.removeMarker(element.id, "kv-incident");
      });
      run.path.forEach(function (step) { if (registry.get(step.element_id)) canvas.addMarker(step.element_id, "kv-done"); });
      run.open_tasks.concat(run.timers, run.messages).forEach(function (wait) {
        if (registry.get(wait.element_id)) canvas.addMarker(wait.element_id, "kv-current");
      });
      run.failures.forEach(function (failure) { if (registry.get(failure.element_id)) canvas.addMarker(failure.element_id, "kv-incident"); });
    };
    if (!sandboxViewer) {
      sandboxViewer = new K.Modeler({ container: "#kv-sandbox-canvas", moddleExtensions: K.moddleExtensions });
    }
    if (xml === null) { show(); return Promise.resolve(); }
    return withLayout(xml).then(function (laid) { return sandboxViewer.importXML(laid); }).then(function () {
      sandboxViewer.get("canvas").zoom("fit-viewport", "auto");
      show();
    });
  }

  function sampleFor(formKey) {
    var name = (formKey || "").replace("camunda-forms:deployment:", "");
    var sample = {};
    var text = state.forms[name];
    if (!text) {
      Object.keys(state.forms).forEach(function (file) {
        try { if (JSON.parse(state.forms[file]).id === name) text = state.forms[file]; } catch (e) { /* not JSON */ }
      });
    }
    try {
      (JSON.parse(text || "{}").components || []).forEach(function (component) {
        if (component.key) sample[component.key] = component.type === "checkbox" ? true : (component.type === "number" ? 0 : "");
      });
    } catch (e) { /* not JSON */ }
    return sample;
  }

  function renderRun(run) {
    state.run = run;
    var out = document.getElementById("kv-sandbox-out");
    out.textContent = "";
    if (run.completed) out.appendChild(el("div", { "class": "alert alert-success py-1", "data-testid": "sandbox-done" }, T.done));
    out.appendChild(el("h2", { "class": "h6" }, T.path));
    var path = el("ol", { "class": "small", "data-testid": "sandbox-path" });
    run.path.forEach(function (step) { path.appendChild(el("li", { "data-element-id": step.element_id }, (step.name || step.element_id) + " · " + step.kind)); });
    out.appendChild(path);
    if (run.failures.length) {
      out.appendChild(el("h2", { "class": "h6 text-danger" }, T.failures));
      run.failures.forEach(function (failure) { out.appendChild(el("p", { "class": "small text-danger" }, failure.element_id + ": " + failure.message)); });
    }
    if (run.open_tasks.length) out.appendChild(el("h2", { "class": "h6" }, T.tasks));
    run.open_tasks.forEach(function (task) {
      var card = el("div", { "class": "border rounded p-2 mb-2", "data-testid": "sandbox-task" });
      card.appendChild(el("div", { "class": "fw-semibold small" }, task.name || task.element_id));
      var vars = el("textarea", { "class": "form-control form-control-sm font-monospace", rows: "3", "aria-label": T.variables });
      vars.value = JSON.stringify(sampleFor(task.form_key), null, 1);
      card.appendChild(vars);
      var button = el("button", { type: "button", "class": "btn btn-sm btn-primary mt-1" }, T.complete);
      button.addEventListener("click", function () {
        var variables;
        try { variables = JSON.parse(vars.value || "{}"); } catch (e) { status(e.message); return; }
        sandboxStep({ action: "complete", task_id: task.task_id, variables: variables });
      });
      card.appendChild(button);
      out.appendChild(card);
    });
    if (run.timers.length) {
      out.appendChild(el("h2", { "class": "h6" }, T.timers));
      var timers = el("ul", { "class": "small" });
      run.timers.forEach(function (timer) { timers.appendChild(el("li", {}, timer.element_id + " · " + timer.due_at)); });
      out.appendChild(timers);
    }
    if (run.messages.length) {
      out.appendChild(el("h2", { "class": "h6" }, T.messages));
      run.messages.forEach(function (message) {
        var button = el("button", { type: "button", "class": "btn btn-sm btn-outline-primary me-1 mb-1" }, T.send + " " + message.name);
        button.addEventListener("click", function () { sandboxStep({ action: message.kind === "signal" ? "signal" : "message", message: message.name }); });
        out.appendChild(button);
      });
    }
    if (run.calls.length) {
      out.appendChild(el("h2", { "class": "h6" }, T.calls));
      var calls = el("ul", { "class": "small", "data-testid": "sandbox-calls" });
      run.calls.forEach(function (call) { calls.appendChild(el("li", {}, call.connector + " (" + call.element_id + "): " + JSON.stringify(call.inputs))); });
      out.appendChild(calls);
    }
    out.appendChild(el("h2", { "class": "h6" }, T.variables));
    out.appendChild(el("pre", { "class": "small bg-body-tertiary p-2 rounded" }, JSON.stringify(run.variables, null, 1)));
  }

  function sandboxStart() {
    var variables;
    try { variables = JSON.parse(document.getElementById("kv-sandbox-vars").value || "{}"); } catch (e) { status(e.message); return; }
    flushForm();
    var xml;
    flushDmn().then(currentXml).then(function (current) {
      xml = current;
      return api("POST", "/drafts/" + DRAFT + "/sandbox", { bpmn_xml: xml, dmn: state.dmn, forms: state.forms, variables: variables });
    }).then(function (run) {
      renderRun(run);
      return sandboxDiagram(xml, run);
    }).catch(function (error) {
      document.getElementById("kv-sandbox-out").textContent = error.message;
    });
  }

  function sandboxStep(body) {
    if (!state.run) return;
    api("POST", "/sandbox/" + state.run.run_id, body).then(function (run) {
      renderRun(run);
      return sandboxDiagram(null, run);
    }).catch(function (error) { status(error.message); });
  }

  // --- start ------------------------------------------------------------------------------------

  function on(id, event, handler) {
    var node = document.getElementById(id);
    if (node) node.addEventListener(event, handler);
  }

  Promise.all([
    api("GET", "/drafts/" + DRAFT),
    api("GET", "/connectors").catch(function () { return []; })
  ]).then(function (results) {
    var draft = results[0];
    state.forms = draft.forms || {};
    state.dmn = draft.dmn || {};
    createModeler(results[1]);
    return importBpmn(draft.bpmn_xml).then(function () {
      state.dirty = false;
      status("");
      showProblems(draft.problems);
      root.dataset.ready = "true";
    });
  }).catch(function (error) {
    status(String(error.message || error));
    root.dataset.ready = "error";
  });

  on("kv-save", "click", function () { save().catch(function () {}); });
  on("kv-validate", "click", check);
  on("kv-deploy", "click", deploy);
  on("kv-import", "change", function (event) { importFiles(event.target.files); event.target.value = ""; });
  on("kv-export-bpmn", "click", function () {
    currentXml().then(function (xml) { download((modeler.getDefinitions().rootElements[0].id || "process") + ".bpmn", xml, "application/xml"); });
  });
  on("kv-export-dmn", "click", function () {
    flushDmn().then(function () {
      Object.keys(state.dmn).forEach(function (name) { download(name, state.dmn[name], "application/xml"); });
    });
  });
  on("kv-forms-tab", "shown.bs.tab", function () { showForm(state.formName || Object.keys(state.forms).sort()[0] || null); });
  on("kv-dmn-tab", "shown.bs.tab", function () { showDmn(state.dmnName || Object.keys(state.dmn).sort()[0] || null); });
  on("kv-form-select", "change", function (event) { showForm(event.target.value); });
  on("kv-dmn-select", "change", function (event) { showDmn(event.target.value); });
  on("kv-form-new", "click", newForm);
  on("kv-dmn-new", "click", newDmn);
  on("kv-sandbox-start", "click", sandboxStart);
  on("kv-sandbox-timers", "click", function () { sandboxStep({ action: "fire_timers" }); });
  window.addEventListener("beforeunload", function (event) {
    if (state.dirty && MAY_EDIT) { event.preventDefault(); event.returnValue = ""; }
  });
}());
