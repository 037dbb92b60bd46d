// Dashboard charts (Chart.js, vendored) and click-to-sort tables. Data and labels come
// from the json_script block the view renders; nothing is fetched from elsewhere.
// A click on a bar or a point opens the leads behind it: the view sends one
// drill-down link per bar and point (…_links), in the order of the data.
(function () {
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const base = { animation: false, responsive: true, maintainAspectRatio: false };

  // Chart.js onClick: the element under the pointer names its dataset and index.
  const drillDown = (linksOf) => (event, elements) => {
    if (!elements.length) return;
    const { datasetIndex, index } = elements[0];
    const url = linksOf(datasetIndex)[index];
    if (url) window.location.assign(url);
  };

  const line = (id, keys, colors, extra) => {
    const datasets = keys.map((key, i) => ({
      label: data.labels[key],
      data: data.series[key].values,
      borderColor: colors[i],
      backgroundColor: colors[i],
      spanGaps: true,
      pointRadius: 4,
      pointHoverRadius: 7,
    }));
    const links = keys.map((key) => data.series[key].links);
    new Chart(document.getElementById(id), {
      type: "line",
      data: { labels: data.weeks, datasets: datasets.concat(extra || []) },
      options: {
        ...base,
        interaction: { mode: "nearest", intersect: true },
        scales: { y: { min: 0, max: 100 } },
        onClick: drillDown((datasetIndex) => links[datasetIndex] || [])
      },
    });
  };

  line(
    "chart-headline",
    ["material_waited_3w_share", "material_late_share", "never_called_share"],
    ["#b54708", "#b42318", "#5b6577"],
  );
  line("chart-trend", ["material_on_time_share", "call_rate"], ["#0b5cad", "#067647"], [
    { label: data.labels.target, data: data.weeks.map(() => data.target), borderColor: "#b42318", borderDash: [6, 4], pointRadius: 0, pointHitRadius: 0 },
  ]);
  new Chart(document.getElementById("chart-ageing"), {
    type: "bar",
    data: { labels: data.ageing.map((b) => b[0]), datasets: [{ label: data.labels.open, data: data.ageing.map((b) => b[1]), backgroundColor: "#b54708" }] },
    options: { ...base, plugins: { legend: { display: false } }, onClick: drillDown(() => data.ageing_links) },
  });
  new Chart(document.getElementById("chart-funnel"), {
    type: "bar",
    data: { labels: data.funnel.map((s) => s[0]), datasets: [{ label: data.labels.leads, data: data.funnel.map((s) => s[1]), backgroundColor: "#0b5cad" }] },
    options: { ...base, indexAxis: "y", plugins: { legend: { display: false } }, onClick: drillDown(() => data.funnel_links) },
  });

  document.querySelectorAll("table.sortable th").forEach((th, column) => {
    th.tabIndex = 0;
    th.setAttribute("role", "button");
    const sort = () => {
      const tbody = th.closest("table").tBodies[0];
      const down = th.dataset.dir !== "desc";
      th.dataset.dir = down ? "desc" : "asc";
      const key = (row) => {
        const cell = row.cells[column];
        return cell.dataset.sort !== undefined ? Number(cell.dataset.sort) : cell.textContent.trim().toLowerCase();
      };
      [...tbody.rows]
        .sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (down ? -1 : 1))
        .forEach((row) => tbody.appendChild(row));
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (event) => { if (event.key === "Enter") sort(); });
  });
})();
