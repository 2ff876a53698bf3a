// Draws the status page's chart from its JSON block; no data is ever written into a script.
(function () {
  "use strict";
  var source = document.getElementById("status-data");
  var box = document.getElementById("chart");
  if (!source || !box || typeof uPlot === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var HEIGHT = 240;

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // Tick labels in 24-hour UTC, with the date where the day changes.
  function utcTicks(u, splits) {
    var lastDay = null;
    return splits.map(function (ts) {
      var d = new Date(ts * 1000);
      var day = d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate());
      var time = two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
      var label = day !== lastDay ? time + "\n" + day : time;
      lastDay = day;
      return label;
    });
  }

  function size() {
    return { width: Math.max(160, box.clientWidth), height: HEIGHT };
  }

  var first = size();
  var options = {
    width: first.width,
    height: first.height,
    // Times are UTC whatever the browser's zone, like every time on the page.
    tzDate: function (ts) {
      return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
    },
    scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
    axes: [
      { label: "time (UTC)", values: utcTicks },
      { label: "files per 10 min", size: 50 }
    ],
    series: [
      { label: "10 minutes from (UTC)" },
      {
        label: "ended",
        stroke: "#2b6cb0",
        fill: "rgba(43, 108, 176, 0.25)",
        paths: uPlot.paths.bars({ size: [0.9, 30] })
      },
      {
        label: "failed or rejected",
        stroke: "#c53030",
        width: 2,
        paths: uPlot.paths.stepped({ align: 1 })
      }
    ]
  };
  var plot = new uPlot(options, [data.t, data.ended, data.bad], box);
  window.addEventListener("resize", function () {
    plot.setSize(size());
  });
})();
