// Passerelle console: progressive enhancement only (every page works without it).
// Live progress of a run: the detail page carries data-live="/api/v1/runs/ID/live";
// the counters and the log follow the server's Server-Sent Events.
(function () {
  "use strict";
  var box = document.querySelector("[data-live]");
  if (!box || !window.EventSource) { return; }
  var src = new EventSource(box.getAttribute("data-live"));
  var log = document.getElementById("journal-direct");
  var fields = ["total", "succeeded", "failed", "ignored", "status"];
  src.addEventListener("progress", function (e) {
    var c = JSON.parse(e.data);
    fields.forEach(function (f) {
      var el = document.querySelector("[data-count='" + f + "']");
      if (el && c[f] !== undefined) { el.textContent = String(c[f]); }
    });
  });
  src.addEventListener("log", function (e) {
    if (!log) { return; }
    var li = document.createElement("li");
    li.textContent = e.data;
    log.appendChild(li);
  });
  src.addEventListener("end", function () {
    src.close();
    box.setAttribute("data-ended", "true");
    var note = document.getElementById("fin-direct");
    if (note) { note.hidden = false; }
  });
})();
