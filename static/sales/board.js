// Drag a deal card to another stage: HTML5 drag and drop, then one htmx POST that re-renders
// the board (sales/_board.html). Delegated listeners survive the board being swapped.
(function () {
  var dragged = null;
  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest(".board-card");
    if (!card) return;
    dragged = card;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.id);
  });
  document.addEventListener("dragover", function (e) {
    if (dragged && e.target.closest && e.target.closest(".board-column")) e.preventDefault();
  });
  document.addEventListener("drop", function (e) {
    var column = e.target.closest && e.target.closest(".board-column");
    var board = document.getElementById("board");
    if (!dragged || !column || !board) return;
    e.preventDefault();
    var id = dragged.dataset.id;
    dragged = null;
    if (column.contains(document.querySelector('.board-card[data-id="' + id + '"]'))) return;
    var headers = {};
    try { headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (err) {}
    htmx.ajax("POST", board.dataset.moveUrl.replace("/0/", "/" + id + "/"), {
      source: board,
      target: "#board",
      headers: headers,
      swap: "outerHTML",
      values: {stage: column.dataset.stage, board: board.dataset.pipeline, owner: board.dataset.owner},
    });
  });
  document.addEventListener("dragend", function () { dragged = null; });
})();
