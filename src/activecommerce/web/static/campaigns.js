// Campaign pages (static: the console's CSP allows no inline script).
// Editor: when htmx has refreshed the preview's envelope (debounced as the editor
// changes), the HTML part is posted into the sandboxed preview iframe (the "Update
// preview" button's formaction/formtarget, which also works without JavaScript).
// Report: the opens/clicks chart, from its canvas's data-series.
(function () {
  function refreshFrame() {
    var form = document.getElementById("campaign-form");
    var button = document.getElementById("preview-button");
    if (form && button && form.requestSubmit) {
      form.requestSubmit(button);
    }
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "preview-summary") {
      refreshFrame();
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var canvas = document.getElementById("activity-chart");
    if (!canvas || !window.Chart) {
      return;
    }
    var series = JSON.parse(canvas.dataset.series);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: series.labels,
        datasets: [
          { label: "Opens", data: series.opens, backgroundColor: "#1f77b4", maxBarThickness: 48 },
          { label: "Clicks", data: series.clicks, backgroundColor: "#ff7f0e", maxBarThickness: 48 }
        ]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  });
})();
