// infersight charts: draws the chart specs of sinks/charts.py with uPlot (vendored, MIT,
// sinks/static/uplot/). Used by the static report (inlined) and the live page (served).
// A spec: {id, title, unit, bucket_s, xmin, xmax, x: [epoch s], series: [{name, values}],
//          span_gaps}; values are aligned with x, null where a series has no point.
(function () {
  "use strict";
  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

  function fmtValue(unit, v) {
    if (v == null) return "-";
    if (unit === "percentunit") return (v * 100).toFixed(1) + "%";
    if (unit === "currencyUSD") return "$" + v.toFixed(v < 1 ? 4 : 2);
    if (unit === "ms") return v.toFixed(0) + " ms";
    return Math.abs(v) >= 100 ? v.toFixed(0) : String(Math.round(v * 100) / 100);
  }

  function render(el, spec) {
    el.innerHTML = "";
    el.setAttribute("data-points", String(spec.x.length));
    el.setAttribute("data-series", String(spec.series.length));
    var title = document.createElement("div");
    title.className = "chart-title";
    title.textContent = spec.title;
    el.appendChild(title);
    if (!spec.x.length) {
      var none = document.createElement("div");
      none.className = "chart-empty";
      none.textContent = "no data in this window";
      el.appendChild(none);
      return null;
    }
    var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    var series = [{}].concat(spec.series.map(function (s, i) {
      return {
        label: s.name,
        stroke: PALETTE[i % PALETTE.length],
        width: 1.5,
        spanGaps: !!spec.span_gaps,
        points: {show: spec.x.length < 3},
        value: function (u, v) { return fmtValue(spec.unit, v); },
      };
    }));
    var opts = {
      width: Math.max(320, el.clientWidth || 560),
      height: 220,
      series: series,
      scales: {x: {time: true, min: spec.xmin, max: spec.xmax}},
      axes: [{}, {values: function (u, vals) {
        return vals.map(function (v) { return fmtValue(spec.unit, v); });
      }, size: 70}],
      legend: {live: false},
    };
    return new uPlot(opts, data, el);
  }

  function renderAll(root) {
    var nodes = (root || document).querySelectorAll("[data-chart-spec]");
    for (var i = 0; i < nodes.length; i++) {
      render(nodes[i], JSON.parse(nodes[i].getAttribute("data-chart-spec")));
    }
  }

  window.InfersightCharts = {render: render, renderAll: renderAll, format: fmtValue};
})();
