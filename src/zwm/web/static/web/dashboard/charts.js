// The overview's charts: series from /jobs/charts/ drawn with uPlot, redrawn every minute
// while the tab is visible and when the time window changes.
(function () {
  "use strict";
  var section = document.getElementById("charts");
  if (!section || typeof uPlot === "undefined") { return; }
  var url = section.getAttribute("data-url");
  var windowName = "hours";
  var charts = {};
  var specs = {
    throughput: [["succeeded", "#2e7d32"], ["failed", "#c62828"]],
    runtime: [["runtime_p50", "#1565c0"], ["runtime_p95", "#ef6c00"]],
    wait: [["wait_p50", "#1565c0"], ["wait_p95", "#ef6c00"]]
  };

  function draw(data) {
    Object.keys(specs).forEach(function (name) {
      var holder = section.querySelector('[data-chart="' + name + '"]');
      var columns = [data.t].concat(specs[name].map(function (s) { return data[s[0]]; }));
      if (charts[name]) { charts[name].setData(columns); return; }
      charts[name] = new uPlot({
        width: Math.max(280, holder.clientWidth || 360),
        height: 200,
        series: [{}].concat(specs[name].map(function (s) {
          return { label: s[0].replace("_", " "), stroke: s[1], width: 2, spanGaps: false, points: { show: true, size: 4 } };
        })),
        axes: [{}, { size: 60 }]
      }, columns, holder);
    });
  }

  function refresh() {
    if (document.visibilityState !== "visible") { return; }
    fetch(url + "?window=" + encodeURIComponent(windowName), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { draw(data); } })
      .catch(function () { /* the next tick tries again */ });
  }

  section.querySelectorAll("[data-window]").forEach(function (button) {
    button.addEventListener("click", function () {
      windowName = button.getAttribute("data-window");
      section.querySelectorAll("[data-window]").forEach(function (b) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      });
      refresh();
    });
  });
  document.addEventListener("visibilitychange", refresh);
  setInterval(refresh, 60000);
  refresh();
})();
