// Session-expiry warning (RGAA 4.1, WCAG 2.2.1): two minutes before the session ends, say so and
// offer to extend it. Without a script the form still works (it posts and comes back).
(function () {
  "use strict";
  var form = document.getElementById("session-warning");
  if (!form) { return; }
  var text = form.querySelector(".session-warning-text");
  var button = form.querySelector(".session-extend");
  var endsAt = parseInt(form.dataset.endsAt, 10) * 1000;
  var extendable = form.dataset.extendable === "oui";
  var lead = 120 * 1000;
  var timer = null;

  function hhmm(ms) {
    var d = new Date(ms);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function message(name, ms) {  // the page's translated sentences (data-msg-*)
    return form.dataset[name].replace("{time}", ms === undefined ? "" : hhmm(ms));
  }

  function show() {
    var left = endsAt - Date.now();
    if (left <= 0) {
      text.textContent = message("msgExpired");
      button.hidden = true;
    } else if (extendable) {
      text.textContent = message("msgIdle", endsAt);
      button.hidden = false;
    } else {
      text.textContent = message("msgAbsolute", endsAt);
      button.hidden = true;
    }
    form.hidden = false;
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    form.hidden = true;
    var wait = endsAt - lead - Date.now();
    if (wait <= 0) { show(); } else { timer = setTimeout(show, wait); }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = new FormData(form);
    fetch(form.action, {method: "POST", body: body, credentials: "same-origin",
                        headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        if (data.ends_at) {
          endsAt = data.ends_at * 1000;
          extendable = data.extendable;
          text.textContent = message("msgExtended");
          setTimeout(schedule, 1500);
        } else { show(); }
      })
      .catch(function () { form.submit(); });
  });
  schedule();
}());
