// The graph of chat users and connected users (uPlot, vendored in /static/vendor/uplot).
// Loaded as a static file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function width(el) {
    return Math.max(200, Math.floor(el.getBoundingClientRect().width));
  }

  function draw(el, data) {
    const note = document.getElementById("graph-note");
    const n = data.timestamps.length;
    if (note) {
      note.textContent = n ? n + " points, one per " + data.bucket_seconds + " s (the most in each)"
                           : "No user counts recorded in this range.";
    }
    const opts = {
      width: width(el),
      height: 240,
      scales: { x: { time: true, range: [data.since, data.until] } },
      // the page's times are UTC, and so are the graph's
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      series: [
        {},
        { label: "Chat users", stroke: "#2f5bd3", width: 2, points: { show: n < 60 } },
        { label: "Connected", stroke: "#d9822b", width: 2, points: { show: n < 60 } },
      ],
      axes: [{}, { size: 40 }],
    };
    const chart = new uPlot(opts, [data.timestamps, data.chat_users, data.connected_users], el);
    el.dataset.points = String(n);
    window.roseyGraph = chart;
    window.addEventListener("resize", function () {
      chart.setSize({ width: width(el), height: 240 });
    });
  }

  function start() {
    const el = document.getElementById("graph");
    if (!el || typeof uPlot === "undefined") {
      return;
    }
    fetch(el.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) { draw(el, data); })
      .catch(function (err) {
        el.dataset.points = "error";
        const note = document.getElementById("graph-note");
        if (note) { note.textContent = "The graph is not available: " + err.message; }
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
