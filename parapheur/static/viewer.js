// The document page's viewer: page navigation, and the action bar's mandatory-reading state.
// Everything works without it (scrolling, zoom and search links, forms); this adds the jumps.
(function () {
  "use strict";
  var viewer = document.querySelector("[data-viewer]");
  var bar = document.querySelector("[data-action-bar]");

  function pageFigure(n) { return document.getElementById("page-" + n); }

  if (viewer) {
    var count = parseInt(viewer.getAttribute("data-page-count"), 10) || 1;
    var form = viewer.querySelector("[data-goto]");
    var input = form && form.querySelector("input");
    var current = 1;
    function go(n) {
      n = Math.max(1, Math.min(count, n));
      var figure = pageFigure(n);
      if (figure) { figure.scrollIntoView({ block: "start" }); }
      current = n;
      if (input) { input.value = String(n); }
    }
    if (form && input) {
      form.hidden = false;
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        go(parseInt(input.value, 10) || 1);
      });
      input.addEventListener("change", function () { go(parseInt(input.value, 10) || 1); });
      form.querySelectorAll("[data-step]").forEach(function (button) {
        button.addEventListener("click", function () {
          go(current + parseInt(button.getAttribute("data-step"), 10));
        });
      });
      if ("IntersectionObserver" in window) {
        var observer = new IntersectionObserver(function (entries) {
          entries.forEach(function (entry) {
            if (entry.isIntersecting) {
              current = parseInt(entry.target.id.slice(5), 10) || current;
              input.value = String(current);
            }
          });
        }, { rootMargin: "-40% 0px -55% 0px" });
        viewer.querySelectorAll("figure.page").forEach(function (f) { observer.observe(f); });
      }
    }
  }

  if (!bar) { return; }
  var gated = bar.querySelectorAll("[data-needs-reading]");
  function lock(locked) {
    gated.forEach(function (el) {
      if (el.tagName === "BUTTON") { el.disabled = locked; }
      el.setAttribute("aria-disabled", locked ? "true" : "false");
      el.title = locked ? "Affichez d'abord chaque page du document (lecture obligatoire)." : "";
    });
  }
  bar.querySelectorAll("[data-focus]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (link.getAttribute("aria-disabled") === "true") { event.preventDefault(); return; }
      var field = document.getElementById(link.getAttribute("data-focus"));
      if (field) {
        event.preventDefault();
        field.scrollIntoView({ block: "center" });
        field.focus();
      }
    });
  });
  // « Rejeter » opens the rejection form it points at.
  bar.querySelectorAll("a[href^='#rejeter-']").forEach(function (link) {
    link.addEventListener("click", function () {
      var details = document.getElementById(link.getAttribute("href").slice(1));
      if (details) { details.open = true; }
    });
  });
  var url = viewer && viewer.getAttribute("data-reading-url");
  if (!bar.hasAttribute("data-reading-pending")) { return; }
  lock(true);
  if (!url) { return; }
  var seenEl = bar.querySelector("[data-reading-seen]");
  var pending = null;
  function refresh() {
    pending = null;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) { return; }
        if (seenEl) { seenEl.textContent = String(state.seen); }
        if (state.complete) {
          bar.removeAttribute("data-reading-pending");
          var note = bar.querySelector("[data-reading-state]");
          if (note) { note.appendChild(document.createTextNode(" — lecture complète")); }
          lock(false);
        }
      })
      .catch(function () {});
  }
  viewer.querySelectorAll("img[data-counts]").forEach(function (img) {
    function loaded() { if (!pending) { pending = setTimeout(refresh, 250); } }
    if (img.complete && img.naturalWidth) { loaded(); } else { img.addEventListener("load", loaded); }
  });
})();
