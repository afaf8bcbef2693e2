// coachbox admin, the inbox: the list follows its live stream, saved replies fill the reply box. Works without it.
"use strict";
(function () {
  var list = document.querySelector("[data-inbox-live]");
  if (list && window.EventSource && window.fetch && window.DOMParser) {
    var seen = null;
    var announce = document.getElementById("inbox-live");
    var source = new EventSource(list.dataset.inboxLive);
    source.addEventListener("inbox", function (ev) {
      var data = JSON.parse(ev.data);
      var badge = document.getElementById("inbox-count");
      if (badge) {
        badge.querySelector("b").textContent = String(data.open);
        badge.classList.toggle("none", !data.open);
      }
      if (seen !== null && seen !== data.version) {
        // Something changed: re-read this page as HTML and swap the list in (learner text stays escaped by the server).
        fetch(window.location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}})
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) {
            if (!html) { return; }
            var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("inbox-list");
            if (!fresh) { return; }
            var before = list.querySelectorAll(".inbox-row").length;
            list.replaceChildren.apply(list, Array.from(fresh.childNodes));
            var after = list.querySelectorAll(".inbox-row").length;
            if (announce && after > before) { announce.textContent = "A new conversation is waiting."; }
          });
      }
      seen = data.version;
    });
  }
  // Saved replies: choosing one fills the reply box at once (the Use button does the same without JavaScript).
  document.querySelectorAll("select[data-fills]").forEach(function (select) {
    var area = document.getElementById(select.dataset.fills);
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      if (area && option && option.dataset.body) { area.value = option.dataset.body; area.dispatchEvent(new Event("input")); }
    });
  });
  // The reply's character counter.
  document.querySelectorAll("textarea[data-counter]:not([data-preview])").forEach(function (area) {
    var counter = document.getElementById(area.dataset.counter);
    var limit = parseInt(area.dataset.limit || "1600", 10);
    function update() {
      var n = Array.from(area.value).length;
      counter.textContent = n.toLocaleString() + " / " + limit.toLocaleString() + " characters";
      counter.classList.toggle("over", n > limit);
    }
    if (counter) { area.addEventListener("input", update); update(); }
  });
  // A reply form sends once: the button is disabled after the first press (the server ignores a second one anyway).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { setTimeout(function () { b.disabled = true; }, 0); });
    });
  });
})();
