// The reply box's "Suggest articles" panel: "Insert link" puts the article's title and its
// help-centre address into the reply at the cursor (or at the end), on a line of its own.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-kb-insert]");
    if (!button) return;
    var textarea = document.getElementById(button.dataset.kbTarget);
    if (!textarea) return;
    var text = button.dataset.kbTitle + ": " + button.dataset.kbUrl;
    var start = textarea.selectionStart;
    var end = textarea.selectionEnd;
    if (document.activeElement !== textarea && start === 0 && end === 0) {
      start = end = textarea.value.length;
    }
    var before = textarea.value.slice(0, start);
    var after = textarea.value.slice(end);
    if (before && !before.endsWith("\n")) text = "\n" + text;
    if (!after.startsWith("\n")) text = text + "\n";
    textarea.value = before + text + after;
    var caret = before.length + text.length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
