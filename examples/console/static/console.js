// The console's only script: "select all", and live updates of the
// computers' table from the server's event stream (no page reload).
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=key]").forEach(function (b) { b.checked = all.checked; });
    });
  }
  var table = document.getElementById("computers");
  if (!table || !window.EventSource) { return; }
  function set(tr, sel, text) {
    var el = tr.querySelector(sel);
    if (el && el.textContent !== text) { el.textContent = text; }
  }
  var es = new EventSource("/events");
  es.addEventListener("host", function (m) {
    var h = JSON.parse(m.data);
    var tr = table.querySelector('tr[data-key="' + CSS.escape(h.key) + '"]');
    if (!tr) { return; }
    tr.dataset.state = h.state_name;
    set(tr, ".state", h.state);
    set(tr, ".attempts", String(h.attempts));
    set(tr, ".progress", h.progress);
    set(tr, ".err", h.error);
    set(tr, ".cause", h.cause);
    set(tr, ".solution", h.solution);
  });
  es.addEventListener("counts", function (m) {
    var c = JSON.parse(m.data);
    Object.keys(c).forEach(function (k) {
      var el = document.getElementById("count-" + k);
      if (el) { el.textContent = String(c[k]); }
    });
  });
})();
