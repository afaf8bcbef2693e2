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
  // The menu's Inbox count: every live stream carries it (event "inbox-count").
  function menuCount(ev) {
    var badge = document.getElementById("inbox-count");
    if (!badge) { return; }
    var open = JSON.parse(ev.data).open;
    badge.querySelector("b").textContent = String(open);
    badge.classList.toggle("none", !open);
  }
  // Live updates: elements with data-live="/admin/events/…" listen to server-sent events and reload their part.
  function follow(el, url) {
    if (!window.EventSource) { return null; }
    var source = new EventSource(url);
    source.addEventListener("inbox-count", menuCount);
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
      // data-phone: the simulator is the learner's phone, so what the box sends sits on the left ("in").
      var side = el.dataset.phone ? (data.direction === "in" ? "out" : "in") : data.direction;
      bubble.className = "bubble msg " + side;
      bubble.id = "m" + data.id;
      var text = document.createElement("div");
      text.className = "wa";
      // data.html is the server's whatsapp_html(body): every character escaped first, then only fixed tags added.
      // Learner text itself never goes in with innerHTML.
      if (typeof data.html === "string") { text.innerHTML = data.html; } else { text.textContent = data.body; }
      bubble.appendChild(text);
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
    return source;
  }
  // Transcripts open at the newest message (the last one), as a phone's chat does.
  document.querySelectorAll(".chat[data-newest]").forEach(function (chat) { chat.scrollTop = chat.scrollHeight; });
  document.querySelectorAll("[data-live]").forEach(function (el) { el.liveSource = follow(el, el.dataset.live); });
  // A page without a stream of its own opens one small stream for the menu's count (one per tab, no query of its own).
  if (window.EventSource && document.getElementById("inbox-count") &&
      !document.querySelector("[data-live], [data-inbox-live]")) {
    new EventSource("/admin/events/menu").addEventListener("inbox-count", menuCount);
  }
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
          var body = res[1];
          (body.replies || []).forEach(function (reply) {
            add(chat, "in", typeof reply === "string" ? reply : (reply.body || ""), reply.id, reply.html);
          });
          // Everything the box sends this learner later (the tutor, follow-ups, lessons) arrives on the live feed.
          if (body.learner_id && chat.dataset.learner !== String(body.learner_id)) {
            if (chat.liveSource) { chat.liveSource.close(); }
            chat.dataset.learner = String(body.learner_id);
            chat.liveSource = follow(chat, "/admin/events/simulator/" + body.learner_id + "?after=" + (body.message_id || 0));
          }
        }).catch(function () { add(chat, "in", "⚠ network error"); });
    });
  }
  function add(chat, cls, text, id, html) {
    // The learner's own messages sit on the right in the simulator (it is their phone), bot replies on the left.
    if (id && document.getElementById("m" + id)) { return; }  // the live feed showed it already
    var b = document.createElement("div");
    b.className = "bubble msg " + cls;
    if (id) { b.id = "m" + id; }
    var body = document.createElement("div");
    body.className = "wa";
    // html: the server's whatsapp_html() of a reply (escaped first); what the admin typed goes in as text.
    if (typeof html === "string") { body.innerHTML = html; } else { body.textContent = text; }
    b.appendChild(body);
    chat.appendChild(b);
    chat.scrollTop = chat.scrollHeight;
  }
})();
