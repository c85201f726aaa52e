/* Konvergo CRM pages: the deals board (SortableJS + htmx), repeatable form rows, "select all"
   in lists, and name suggestions for datalists. Everything works without it too: the board has
   a "Move to" form per card, forms have one empty row, datalists stay empty. */
(function () {
  "use strict";

  // --- the board -------------------------------------------------------------------------
  function showBoardMessage(text, kind) {
    var box = document.getElementById("kv-board-message");
    if (!box) return;
    box.textContent = "";
    var alert = document.createElement("div");
    alert.className = "alert alert-" + (kind || "danger") + " py-2";
    alert.setAttribute("role", kind === "success" ? "status" : "alert");
    alert.setAttribute("data-testid", "board-message");
    alert.textContent = text;
    box.appendChild(alert);
  }

  function initBoard(root) {
    if (typeof window.Sortable === "undefined") return;
    (root || document).querySelectorAll("[data-kv-sortable]").forEach(function (list) {
      if (window.Sortable.get(list)) return;
      window.Sortable.create(list, {
        group: list.dataset.kvSortable,
        draggable: ".kv-deal-card",
        filter: "summary, select, button, input, form",
        preventOnFilter: false,
        forceFallback: true, // pointer events: the same on mouse, touch and in tests
        fallbackTolerance: 4,
        delay: 150,
        delayOnTouchOnly: true,
        animation: 120,
        ghostClass: "kv-card-ghost",
        onEnd: function (evt) {
          if (evt.to === evt.from) return;
          var card = evt.item;
          card._kvRevert = function () {
            evt.from.insertBefore(card, evt.from.children[evt.oldIndex] || null);
          };
          card.classList.add("kv-moving");
          window.htmx.ajax("POST", card.dataset.moveUrl, {
            source: card,
            swap: "none",
            values: { stage: evt.to.dataset.stage }
          });
        }
      });
    });
  }

  function revertOnError(evt) {
    var card = evt.detail && evt.detail.elt;
    if (!card || !card._kvRevert) return;
    card._kvRevert();
    card._kvRevert = null;
    card.classList.remove("kv-moving");
    var xhr = evt.detail.xhr;
    var text = xhr && xhr.status ? (xhr.responseText || xhr.statusText) : "";
    showBoardMessage(text || "The deal could not be moved.", "danger");
  }

  document.addEventListener("htmx:responseError", revertOnError);
  document.addEventListener("htmx:sendError", revertOnError);
  document.addEventListener("htmx:load", function (evt) { initBoard(evt.target.parentNode || document); });

  // --- repeatable rows of a form (formsets) -------------------------------------------------
  function initRows(root) {
    (root || document).querySelectorAll("[data-kv-rows]").forEach(function (fieldset) {
      var button = fieldset.querySelector("[data-kv-add-row]");
      var template = fieldset.querySelector("template[data-kv-row-template]");
      var total = fieldset.querySelector("input[name$='-TOTAL_FORMS']");
      var list = fieldset.querySelector(".kv-row-list");
      if (!button || !template || !total || !list || button.dataset.kvReady) return;
      button.dataset.kvReady = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var index = parseInt(total.value, 10) || 0;
        var html = template.innerHTML.replace(/__prefix__/g, String(index));
        var holder = document.createElement("div");
        holder.innerHTML = html.trim();
        var row = holder.firstElementChild;
        list.appendChild(row);
        total.value = String(index + 1);
        if (window.htmx) window.htmx.process(row);
        var first = row.querySelector("input:not([type=hidden]):not([type=checkbox]), select");
        if (first) first.focus();
      });
    });
  }

  // --- lists: select every row of the page ----------------------------------------------------
  document.addEventListener("change", function (evt) {
    var box = evt.target;
    if (!box.matches || !box.matches("[data-kv-select-all]")) return;
    document.querySelectorAll("input[name=ids][form='" + box.dataset.kvSelectAll + "']")
      .forEach(function (item) { item.checked = box.checked; });
  });

  // --- the duplicate check while typing a name, e-mail, phone or tax id ------------------------
  document.addEventListener("input", function (evt) {
    var input = evt.target;
    if (input.matches && input.matches("[data-kv-dup]") && input.form && window.htmx) {
      window.htmx.trigger(input.form, "kv-duplicates-check");
    }
  });

  // --- datalists filled while typing ------------------------------------------------------------
  var timers = new WeakMap();
  document.addEventListener("input", function (evt) {
    var input = evt.target;
    if (!input.list || !input.list.dataset || !input.list.dataset.kvNames) return;
    var list = input.list;
    clearTimeout(timers.get(input));
    timers.set(input, setTimeout(function () {
      var text = input.value.trim();
      if (text.length < 2) return;
      fetch(list.dataset.kvNames + "?q=" + encodeURIComponent(text), {
        headers: { "X-Requested-With": "fetch" }, credentials: "same-origin"
      }).then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) { if (html) list.innerHTML = html; });
    }, 250));
  });

  function init() { initBoard(document); initRows(document); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
