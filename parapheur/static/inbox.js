// « À traiter »: keyboard shortcuts. Each one presses a button or a link the page already has,
// so everything stays reachable without this script.
(function () {
  "use strict";
  const table = document.getElementById("a-traiter-liste");
  const help = document.getElementById("raccourcis");
  const rows = table ? Array.from(table.querySelectorAll("tbody tr")) : [];
  let current = -1;
  const move = function (index) {
    if (!rows.length) { return; }
    if (current >= 0) { rows[current].classList.remove("current"); rows[current].removeAttribute("aria-current"); }
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows[current].classList.add("current");
    rows[current].setAttribute("aria-current", "true");
    rows[current].focus();
  };
  const press = function (id) {
    const button = document.getElementById(id);
    if (button) { button.click(); }
  };
  document.addEventListener("keydown", function (event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (["input", "select", "textarea", "button"].includes(tag) && event.target.type !== "checkbox") { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    const box = current >= 0 ? rows[current].querySelector("input[name=items]") : null;
    if (event.key === "j") { move(current + 1); }
    else if (event.key === "k") { move(current - 1); }
    else if (event.key === "x" && box) { box.checked = !box.checked; }
    else if (event.key === "v") { press("lot-visa"); }
    else if (event.key === "r") { press("lot-rejet"); }
    else if (event.key === "s") {
      const reviewed = document.querySelector("#signature-groupee input[name=reviewed]");
      if (reviewed) { reviewed.focus(); }
    }
    else if (event.key === "/") { const q = document.getElementById("filtre-q"); if (q) { q.focus(); q.select(); } }
    else if (event.key === "?") { if (help) { help.open = !help.open; if (help.open) { help.querySelector("summary").focus(); } } }
    else if ((event.key === "o" || event.key === "Enter") && current >= 0 && event.target === rows[current]) { window.location = rows[current].dataset.url; }
    else { return; }
    event.preventDefault();
  });
}());
