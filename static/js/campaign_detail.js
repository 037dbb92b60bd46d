// The campaign page's leads-per-day chart (Chart.js, vendored). Data comes from the
// json_script block the view renders; a static file, so the Content-Security-Policy
// needs no inline script.
(function () {
  const data = JSON.parse(document.getElementById("per-day-data").textContent);
  new Chart(document.getElementById("chart-per-day"), {
    type: "bar",
    data: { labels: data.labels, datasets: [{ label: data.label, data: data.counts, backgroundColor: "#0b5cad" }] },
    options: { animation: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
})();
