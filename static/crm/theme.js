// The colour theme: "light", "dark" or "auto" (the system's), chosen in the user menu and kept
// in this browser. Loaded in <head> so the page is drawn in its theme from the start.
(function () {
  var KEY = "crm-theme";
  var system = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : "auto";
    } catch (e) {
      return "auto";
    }
  }

  function apply(choice) {
    var theme = choice === "auto" ? (system && system.matches ? "dark" : "light") : choice;
    document.documentElement.setAttribute("data-bs-theme", theme);
    document.querySelectorAll("[data-theme-choice]").forEach(function (button) {
      var chosen = button.getAttribute("data-theme-choice") === choice;
      button.classList.toggle("active", chosen);
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
    });
  }

  function choose(choice) {
    try {
      if (choice === "auto") window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, choice);
    } catch (e) {
      // Storage refused (private mode): the choice holds for this page only.
    }
    apply(choice);
  }

  apply(stored());
  if (system && system.addEventListener) {
    system.addEventListener("change", function () { if (stored() === "auto") apply("auto"); });
  }
  document.addEventListener("DOMContentLoaded", function () { apply(stored()); });
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-theme-choice]");
    if (!button) return;
    e.preventDefault();
    choose(button.getAttribute("data-theme-choice"));
  });
})();
