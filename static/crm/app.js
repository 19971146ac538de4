// Pickers that search on the server: <select data-autocomplete-url="..."> (crm.widgets).
function initAutocomplete(root) {
  root.querySelectorAll("select[data-autocomplete-url]").forEach(function (el) {
    if (el.tomselect) return;
    new TomSelect(el, {
      valueField: "value",
      labelField: "text",
      searchField: [],
      loadThrottle: 250,
      load: function (query, callback) {
        fetch(el.dataset.autocompleteUrl + "?q=" + encodeURIComponent(query), {credentials: "same-origin"})
          .then(function (r) { return r.json(); })
          .then(function (json) { callback(json.results); })
          .catch(function () { callback(); });
      },
    });
  });
}
document.addEventListener("DOMContentLoaded", function () { initAutocomplete(document); });
document.addEventListener("htmx:afterSwap", function (e) { initAutocomplete(e.target); });

// Behaviour declared in markup with data- attributes, so that no page needs an inline handler
// (onclick=, onchange=...), which the Content-Security-Policy refuses to run.
//   <select data-autosubmit>: submits its form when changed.
//   <form data-confirm="Question?">: asks before submitting.
//   <button data-confirm="Question?" [data-confirm-action="delete"]>: asks before submitting
//     (only when the form's "action" field has that value, if given).
//   <div data-progress="42">: a progress bar 42% wide.
//   hx-trigger="every 60s" data-pause-while="CSS selector": polling skips a turn while the
//     selector matches something (e.g. rows ticked for a bulk action).
document.addEventListener("change", function (e) {
  var el = e.target;
  if (el.matches && el.matches("[data-autosubmit]") && el.form) el.form.requestSubmit();
});
document.addEventListener("submit", function (e) {
  var form = e.target;
  if (form.matches && form.matches("form[data-confirm]") && !window.confirm(form.dataset.confirm)) {
    e.preventDefault();
    e.stopImmediatePropagation();
  }
}, true);
document.addEventListener("click", function (e) {
  var button = e.target.closest && e.target.closest("button[data-confirm], input[data-confirm]");
  if (button && button.form) {
    var only = button.dataset.confirmAction;
    var field = button.form.elements.namedItem("action");
    if ((!only || (field && field.value === only)) && !window.confirm(button.dataset.confirm)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }
}, true);
document.addEventListener("htmx:beforeRequest", function (e) {
  var selector = e.detail.elt && e.detail.elt.dataset && e.detail.elt.dataset.pauseWhile;
  if (selector && document.querySelector(selector)) e.preventDefault();
});
function initProgress(root) {
  if (!root.querySelectorAll) return;
  var bars = Array.prototype.slice.call(root.querySelectorAll("[data-progress]"));
  if (root.matches && root.matches("[data-progress]")) bars.push(root);
  bars.forEach(function (bar) {
    var percent = Math.max(0, Math.min(100, parseFloat(bar.dataset.progress) || 0));
    bar.style.width = percent + "%";
  });
}
document.addEventListener("DOMContentLoaded", function () { initProgress(document); });
document.addEventListener("htmx:load", function (e) { initProgress(e.target); });

// Keyboard shortcuts (the "?" dialog lists them): "/" search, "n" new record, "?" help. They
// wait while the user types in a field, and leave key combinations with Ctrl, Alt or Cmd alone.
(function () {
  function typing(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function visible(el) {
    return Boolean(el && el.getClientRects().length);
  }

  function showModal(id) {
    var el = document.getElementById(id);
    if (!el || !window.bootstrap) return false;
    window.bootstrap.Modal.getOrCreateInstance(el).show();
    return true;
  }

  function focusSearch() {
    var wide = document.getElementById("nav-search");
    if (visible(wide)) {
      wide.focus();
      wide.select();
      return true;
    }
    var phone = document.getElementById("nav-search-phone");
    if (!phone || !window.bootstrap) return false;
    window.bootstrap.Collapse.getOrCreateInstance(phone, {toggle: false}).show();
    document.getElementById("nav-search-phone-input").focus();
    return true;
  }

  function newRecord() {
    var chooser = document.getElementById("new-record");
    if (!chooser) return false;
    var here = chooser.getAttribute("data-new-here");
    if (here) {
      window.location.assign(here);
      return true;
    }
    return showModal("new-record");
  }

  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (typing(e.target) || document.querySelector(".modal.show")) return;
    var done = false;
    if (e.key === "/") done = focusSearch();
    else if (e.key === "n" || e.key === "N") done = !e.shiftKey && newRecord();
    else if (e.key === "?") done = showModal("shortcut-help");
    if (done) e.preventDefault();
  });

  // The phone's search opens under the bar with the cursor in it.
  document.addEventListener("shown.bs.collapse", function (e) {
    if (e.target.id === "nav-search-phone") document.getElementById("nav-search-phone-input").focus();
  });
  // The first choice of the "new record" dialog takes the keyboard.
  document.addEventListener("shown.bs.modal", function (e) {
    if (e.target.id !== "new-record") return;
    var first = e.target.querySelector("a");
    if (first) first.focus();
  });
})();

// Wide tables scroll sideways inside their card on a narrow screen instead of widening the page.
function wrapWideTables(root) {
  if (!root.querySelectorAll) return;
  var tables = Array.prototype.slice.call(root.querySelectorAll("main table.table"));
  if (root.matches && root.matches("main table.table")) tables.push(root);
  tables.forEach(function (table) {
    var parent = table.parentElement;
    if (!parent || parent.closest(".table-responsive") || parent.classList.contains("table-scroll")) return;
    var wrapper = document.createElement("div");
    wrapper.className = "table-responsive";
    parent.insertBefore(wrapper, table);
    wrapper.appendChild(table);
  });
}
document.addEventListener("DOMContentLoaded", function () { wrapWideTables(document); });
document.addEventListener("htmx:load", function (e) { wrapWideTables(e.target); });

// Bulk bars (templates/crm/_bulk_bar.html):
//   <input type="checkbox" data-check-all="FORM-ID">: ticks or unticks every row of the page.
//   <select data-bulk-action>: shows only the chosen action's fields ([data-bulk-for]).
document.addEventListener("change", function (e) {
  var el = e.target;
  if (el.matches && el.matches("[data-check-all]")) {
    var boxes = document.querySelectorAll('input[name="ids"][form="' + el.dataset.checkAll + '"]');
    Array.prototype.forEach.call(boxes, function (box) { box.checked = el.checked; });
  }
  if (el.matches && el.matches("[data-bulk-action]")) showBulkFields(el);
});
function showBulkFields(select) {
  var form = select.form;
  if (!form) return;
  Array.prototype.forEach.call(form.querySelectorAll("[data-bulk-for]"), function (group) {
    group.hidden = group.dataset.bulkFor !== select.value;
  });
}
document.addEventListener("DOMContentLoaded", function () {
  Array.prototype.forEach.call(document.querySelectorAll("[data-bulk-action]"), showBulkFields);
});
// A list's filter bar reloads the table on a change of any select ("change from:select"): not
// on a select of a bulk bar, whose choice would otherwise untick the rows.
document.addEventListener("htmx:confirm", function (e) {
  var event = e.detail && e.detail.triggeringEvent;
  var target = event && event.target;
  if (target && target.closest && target.closest("[data-bulk-bar]")) e.preventDefault();
});
// Saved views: <form data-list-query> sends the list's query string as the address bar shows it
// now (filtering and sorting change it without reloading the page) in its "query" field.
document.addEventListener("submit", function (e) {
  var form = e.target;
  if (!form.matches || !form.matches("form[data-list-query]")) return;
  var field = form.elements.namedItem("query");
  if (field) field.value = window.location.search.replace(/^\?/, "");
});
