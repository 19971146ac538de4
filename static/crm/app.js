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
