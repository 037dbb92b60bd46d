// Dashboard charts (Chart.js, vendored) and click-to-sort tables. Data comes from
// the json_script block the view renders; nothing is fetched from elsewhere.
(function () {
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const lang = document.documentElement.lang;
  const t = (de, en) => (lang === "de" ? de : en);
  new Chart(document.getElementById("chart-trend"), {
    type: "line",
    data: {
      labels: data.weeks,
      datasets: [
        { label: t("Material pünktlich %", "Material on time %"), data: data.on_time, borderColor: "#0b5cad", spanGaps: true },
        { label: t("Anrufquote %", "Call-back rate %"), data: data.call_rate, borderColor: "#067647", spanGaps: true },
        { label: t("SLA-Ziel", "SLA target"), data: data.weeks.map(() => data.target), borderColor: "#b42318", borderDash: [6, 4], pointRadius: 0 },
      ],
    },
    options: { scales: { y: { min: 0, max: 100 } }, animation: false },
  });
  new Chart(document.getElementById("chart-ageing"), {
    type: "bar",
    data: { labels: data.ageing.map((b) => b[0]), datasets: [{ label: t("Offene Aufgaben", "Open follow-ups"), data: data.ageing.map((b) => b[1]), backgroundColor: "#b54708" }] },
    options: { animation: false, plugins: { legend: { display: false } } },
  });
  new Chart(document.getElementById("chart-funnel"), {
    type: "bar",
    data: { labels: data.funnel.map((s) => s[0]), datasets: [{ label: "Leads", data: data.funnel.map((s) => s[1]), backgroundColor: "#0b5cad" }] },
    options: { indexAxis: "y", animation: false, plugins: { legend: { display: false } } },
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
