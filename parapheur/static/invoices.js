// « Factures »: import files one by one (progress bar, a result per file) and keyboard navigation.
(function () {
  "use strict";
  const form = document.getElementById("invoice-import");
  if (form) {
    const input = document.getElementById("files");
    const zone = document.getElementById("dropzone");
    const bar = document.getElementById("import-progress");
    const list = document.getElementById("import-results");
    const send = async function (files) {
      bar.hidden = false; bar.max = files.length; bar.value = 0; list.textContent = "";
      for (const file of files) {
        const item = document.createElement("li");
        item.textContent = file.name + " : envoi…";
        list.appendChild(item);
        const body = new FormData();
        body.append("files", file);
        try {
          const response = await fetch(form.action, {method: "POST", body: body,
            headers: {"Accept": "application/json", "X-CSRFToken": form.dataset.csrf}});
          const data = await response.json();
          const result = (data.results || [])[0];
          item.textContent = file.name + " : " + (result ? result.summary : (data.error || "refusé"));
          if (result && result.url) {
            const link = document.createElement("a");
            link.href = result.url; link.textContent = " (voir)";
            item.appendChild(link);
          }
          if (result && result.problems.length) {
            item.appendChild(document.createTextNode(" — " + result.problems.length + " problème(s)"));
          }
        } catch (error) {
          item.textContent = file.name + " : échec de l'envoi, rien n'a été importé pour ce fichier.";
        }
        bar.value += 1;
      }
    };
    form.addEventListener("submit", function (event) {
      if (input.files.length) { event.preventDefault(); send(Array.from(input.files)); }
    });
    zone.addEventListener("dragover", function (event) { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault(); zone.classList.remove("over");
      send(Array.from(event.dataTransfer.files));
    });
  }
  const table = document.getElementById("invoice-list");
  if (!table) { return; }
  const rows = Array.from(table.querySelectorAll("tbody tr"));
  let current = -1;
  const focus = function (index) {
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows[current].focus();
  };
  document.addEventListener("keydown", function (event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (["input", "select", "textarea"].includes(tag) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    const box = current >= 0 ? rows[current].querySelector("input[type=checkbox]") : null;
    if (event.key === "j") { focus(current + 1); }
    else if (event.key === "k") { focus(current - 1); }
    else if (event.key === "x" && box) { box.checked = !box.checked; }
    else if (event.key === "a") { rows.forEach(function (r) { const b = r.querySelector("input[type=checkbox]"); if (b) { b.checked = true; } }); }
    else if (event.key === "o" && current >= 0) { window.location = rows[current].dataset.url; }
    else if (event.key === "v") { const b = document.getElementById("batch-approve"); if (b) { b.click(); } }
    else if (event.key === "i") { const f = document.getElementById("files"); if (f) { f.focus(); } }
    else { return; }
    event.preventDefault();
  });
}());
