// Keyboard shortcuts of the service desk: j/k move through the list, Enter opens, x selects,
// n opens a new ticket, / jumps to the search, r to the reply box, e to the status buttons.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function rows() { return Array.from(document.querySelectorAll(".kv-ticket-row")); }
  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(document.activeElement);
    var next = all[Math.min(all.length - 1, Math.max(0, index + step))];
    next.focus();
    next.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var row = document.activeElement && document.activeElement.closest(".kv-ticket-row");
    var target;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": if (row) { window.location = row.dataset.url; } else { return; } break;
      case "x":
        if (!row) return;
        target = row.querySelector("input[type=checkbox]");
        if (target) target.checked = !target.checked;
        break;
      default:
        target = document.querySelector('[data-shortcut="' + event.key + '"]');
        if (!target) return;
        if (target.tagName === "A") { window.location = target.href; } else { target.focus(); }
    }
    event.preventDefault();
  });
})();
