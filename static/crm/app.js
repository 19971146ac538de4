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
