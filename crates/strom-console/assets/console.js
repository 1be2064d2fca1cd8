// Strom console: draws the charts. Each <div class="chart" data-src="/api/..."> gets a uPlot
// line chart of the JSON it points to ({"t": [unix seconds], "series": [{"label", "values"}]}),
// refreshed every data-refresh-ms. Pages read fine without this script: the tables carry the numbers.
(function () {
  "use strict";
  var palette = ["#1f6feb", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599"];

  function draw(el) {
    var src = el.getAttribute("data-src");
    fetch(src, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        var data = [d.t].concat(d.series.map(function (s) { return s.values; }));
        var series = [{}].concat(d.series.map(function (s, i) {
          return { label: s.label, stroke: palette[i % palette.length], width: 2 };
        }));
        var width = Math.max(300, el.clientWidth - 16);
        el.setAttribute("data-points", String(d.t.length));
        if (el._plot) {
          el._plot.setData(data);
          return;
        }
        el.textContent = "";
        var title = el.getAttribute("data-title") || "";
        el._plot = new uPlot({
          title: title, width: width, height: 220, series: series,
          axes: [{}, { label: d.unit || "" }],
        }, data, el);
      })
      .catch(function (e) { el.setAttribute("data-error", String(e)); });
  }

  function start() {
    if (typeof uPlot === "undefined") { return; }
    var charts = document.querySelectorAll("div.chart[data-src]");
    Array.prototype.forEach.call(charts, function (el) {
      draw(el);
      var every = parseInt(el.getAttribute("data-refresh-ms") || "5000", 10);
      setInterval(function () { draw(el); }, Math.max(1000, every));
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
