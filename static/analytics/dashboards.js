// Draws each dashboard figure from the JSON the page carries (json_script), with Chart.js.
(function () {
  "use strict";
  if (typeof Chart === "undefined") return;
  document.querySelectorAll("canvas[data-figure]").forEach(function (canvas) {
    var source = document.getElementById(canvas.dataset.figure);
    if (!source) return;
    var figure = JSON.parse(source.textContent);
    var horizontal = figure.type === "hbar";
    var type = horizontal ? "bar" : figure.type;
    var round = type === "doughnut" || type === "pie";
    new Chart(canvas, {
      type: type,
      data: {
        labels: figure.labels,
        datasets: figure.datasets.map(function (d) {
          return { label: d.label, data: d.data, spanGaps: true };
        }),
      },
      options: {
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        animation: false,
        scales: round ? {} : {
          x: { stacked: figure.stacked },
          y: { stacked: figure.stacked, beginAtZero: true },
        },
      },
    });
  });
})();
