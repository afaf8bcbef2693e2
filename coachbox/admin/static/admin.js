// coachbox admin: small progressive enhancements. Every page works without this file.
"use strict";
(function () {
  // Live WhatsApp-bubble preview and 1,600-character counter for lesson and message bodies.
  function renderWhatsApp(text) {
    var esc = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    return esc.replace(/\*([^*\n]+)\*/g, "<strong>$1</strong>").replace(/(^|\W)_([^_\n]+)_(?=\W|$)/g, "$1<em>$2</em>")
      .replace(/~([^~\n]+)~/g, "<s>$1</s>").replace(/```([^`]+)```/g, "<code>$1</code>");
  }
  document.querySelectorAll("textarea[data-preview]").forEach(function (area) {
    var preview = document.getElementById(area.dataset.preview);
    var counter = document.getElementById(area.dataset.counter);
    var limit = parseInt(area.dataset.limit || "1600", 10);
    function update() {
      if (preview) { preview.innerHTML = renderWhatsApp(area.value); }
      if (counter) {
        var n = Array.from(area.value).length;
        counter.textContent = n.toLocaleString() + " / " + limit.toLocaleString() + " characters" +
          (n > limit ? " (too long: it will be split into " + Math.ceil(n / limit) + "+ messages)" : "");
        counter.classList.toggle("over", n > limit);
      }
    }
    area.addEventListener("input", update);
    update();
  });
  // Live updates: elements with data-live="/admin/events/…" listen to server-sent events and reload their part.
  document.querySelectorAll("[data-live]").forEach(function (el) {
    if (!window.EventSource) { return; }
    var source = new EventSource(el.dataset.live);
    source.addEventListener("update", function (ev) {
      var data = JSON.parse(ev.data);
      Object.keys(data).forEach(function (key) {
        var target = el.querySelector('[data-key="' + key + '"]');
        if (target) { target.textContent = data[key]; }
      });
    });
    source.addEventListener("message-row", function (ev) {
      var data = JSON.parse(ev.data);
      if (document.getElementById("m" + data.id)) { return; }  // already on the page (a reconnect re-sends)
      var bubble = document.createElement("div");
      bubble.className = "bubble " + data.direction;
      bubble.id = "m" + data.id;
      bubble.textContent = data.body;  // textContent: never innerHTML for learner text
      var meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = data.meta;
      if (data.status) {
        meta.appendChild(document.createTextNode(" · "));
        var status = document.createElement("span");
        status.className = "status";
        status.textContent = data.status;
        meta.appendChild(status);
      }
      bubble.appendChild(meta);
      var error = document.createElement("span");
      error.className = "meta bad error";
      error.hidden = true;
      bubble.appendChild(error);
      var empty = el.querySelector("p");
      if (empty && !el.querySelector(".bubble")) { empty.remove(); }
      el.appendChild(bubble);
      el.scrollTop = el.scrollHeight;
    });
    source.addEventListener("message-status", function (ev) {
      var data = JSON.parse(ev.data);
      var bubble = document.getElementById("m" + data.id);
      if (!bubble) { return; }
      var status = bubble.querySelector(".status");
      if (status) { status.textContent = data.status; }
      bubble.classList.toggle("failed", data.status === "failed" || data.status === "undelivered");
      var error = bubble.querySelector(".error");
      if (error) { error.textContent = data.error || ""; error.hidden = !data.error; }
    });
  });
  // Simulator panel: post through fetch, show replies as bubbles; falls back to the plain form without JS.
  var sim = document.getElementById("sim-form");
  if (sim && window.fetch) {
    sim.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var chat = document.getElementById("sim-chat");
      var text = sim.elements.text.value;
      if (!text) { return; }
      add(chat, "out", text);
      sim.elements.text.value = "";
      fetch("/api/v1/simulator/messages", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": document.querySelector("main").dataset.csrf},
        body: JSON.stringify({phone: sim.elements.phone.value, name: sim.elements.name.value, text: text})
      }).then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); })
        .then(function (res) {
          if (res[0] !== 200) { add(chat, "in", "⚠ " + (res[1].error || "error " + res[0])); return; }
          (res[1].replies || []).forEach(function (reply) { add(chat, "in", typeof reply === "string" ? reply : (reply.body || "")); });
        }).catch(function () { add(chat, "in", "⚠ network error"); });
    });
  }
  function add(chat, cls, text) {
    // The learner's own messages sit on the right in the simulator (it is their phone), bot replies on the left.
    var b = document.createElement("div");
    b.className = "bubble " + cls;
    b.textContent = text;
    chat.appendChild(b);
    chat.scrollTop = chat.scrollHeight;
  }
})();
