/* The task page: the process diagram (bpmn-js viewer, the current steps highlighted) and the
   task's form (form-js viewer). Submitting the form posts its data as JSON; the server checks
   them against the same schema and answers 422 with the fields that fail, shown here. */
(function () {
  "use strict";

  function csrfToken() {
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var headers = document.body.getAttribute("hx-headers");
    try { return JSON.parse(headers)["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // --- the diagram ---------------------------------------------------------------------------
  function showDiagram() {
    var box = document.getElementById("kv-diagram");
    if (!box || typeof window.BpmnJS === "undefined") return;
    var active = readJson("kv-active-elements") || [];
    var viewer = new window.BpmnJS({ container: box });
    fetch(box.dataset.xmlUrl, { credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get("canvas");
        canvas.zoom("fit-viewport", "auto");
        var registry = viewer.get("elementRegistry");
        active.forEach(function (id) {
          if (registry.get(id)) canvas.addMarker(id, "kv-current");
        });
        box.dataset.ready = "true";
      })
      .catch(function (error) {
        box.textContent = String(error && error.message || error);
        box.dataset.ready = "error";
      });
  }

  // --- the form -------------------------------------------------------------------------------
  function showErrors(box, message, errors) {
    box.textContent = "";
    var alert = document.createElement("div");
    alert.className = "alert alert-danger";
    alert.setAttribute("data-testid", "form-errors");
    var title = document.createElement("p");
    title.className = "mb-1 fw-semibold";
    title.textContent = message;
    alert.appendChild(title);
    var list = document.createElement("ul");
    list.className = "mb-0";
    Object.keys(errors || {}).forEach(function (field) {
      errors[field].forEach(function (text) {
        var item = document.createElement("li");
        item.textContent = field + ": " + text;
        list.appendChild(item);
      });
    });
    alert.appendChild(list);
    box.appendChild(alert);
    box.scrollIntoView({ block: "nearest" });
  }

  // The server's field errors also under the fields themselves (matched by their data path).
  function markFields(form, errors) {
    if (!errors) return;
    try {
      var registry = form.get("formFieldRegistry");
      var paths = null;
      try { paths = form.get("pathRegistry"); } catch (e) { paths = null; }
      var byField = {};
      registry.getAll().forEach(function (field) {
        var path = field.key;
        if (paths && paths.getValuePath) {
          var parts = paths.getValuePath(field);
          if (parts && parts.length) path = parts.join(".");
        }
        if (path && errors[path]) byField[field.id] = errors[path];
      });
      if (Object.keys(byField).length) form._setState({ errors: byField });
    } catch (e) {
      // The list above the form still names every field.
    }
  }

  function showForm() {
    var box = document.getElementById("kv-form");
    var schema = readJson("kv-form-schema");
    if (!box || !schema || typeof window.FormViewer === "undefined") return;
    var errorsBox = document.getElementById("kv-form-errors");
    var data = readJson("kv-form-data") || {};
    // No input debouncing: with it, a field typed into and then left quickly could lose the
    // choice made right after (the late update writes back older data).
    var form = new window.FormViewer.Form({ container: box, debounce: false });
    form.importSchema(schema, data).then(function () {
      // A submit button of our own when the form has none.
      if (!box.querySelector("button[type=submit]")) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-success mt-2";
        button.textContent = box.dataset.submitLabel;
        button.addEventListener("click", function () { form.submit(); });
        box.appendChild(button);
      }
      box.dataset.ready = "true";
    });
    form.on("submit", function (event) {
      if (event.errors && Object.keys(event.errors).length) return; // shown by form-js
      fetch(box.dataset.completeUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ variables: event.data })
      }).then(function (response) {
        return response.json().then(function (body) { return { status: response.status, body: body }; });
      }).then(function (result) {
        if (result.status === 200 && result.body.redirect) {
          window.location.assign(result.body.redirect);
          return;
        }
        showErrors(errorsBox, result.body.message || box.dataset.errorLabel, result.body.errors);
        markFields(form, result.body.errors);
      }).catch(function () {
        showErrors(errorsBox, box.dataset.errorLabel, {});
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    showDiagram();
    showForm();
  });
})();
