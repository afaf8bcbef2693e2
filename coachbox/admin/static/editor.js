// coachbox lesson editor: nothing typed is lost. Every form with data-draft keeps what you type in this browser
// (localStorage) and puts it back after a page load (saving a quiz question reloads the page); leaving the page
// with unsaved changes asks first. The page works without this file (every form still saves on its own).
"use strict";
(function () {
  var forms = Array.prototype.slice.call(document.querySelectorAll("form[data-draft]"));
  if (!forms.length) { return; }
  var store = null;
  try { store = window.localStorage; store.getItem("coachbox:probe"); } catch (e) { store = null; }
  var submitting = null;  // the form being sent: the server saves it, or shows it again with what was typed

  function editable(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "csrf_token" && !el.disabled && !el.readOnly &&
        ["submit", "button", "hidden", "file"].indexOf(el.type) < 0;
    });
  }
  function keyed(form) {  // name:value for radios and checkboxes, name:n for the n-th field of a name
    var seen = {}, out = {};
    editable(form).forEach(function (el) {
      var key;
      if (el.type === "radio" || el.type === "checkbox") { key = el.name + ":" + el.value; }
      else { seen[el.name] = (seen[el.name] || 0) + 1; key = el.name + "#" + seen[el.name]; }
      out[key] = el;
    });
    return out;
  }
  function current(el) { return (el.type === "radio" || el.type === "checkbox") ? el.checked : el.value; }
  function saved(el) { return (el.type === "radio" || el.type === "checkbox") ? el.defaultChecked : el.defaultValue; }
  function changes(form) {
    var fields = keyed(form), out = {};
    Object.keys(fields).forEach(function (key) {
      var el = fields[key];
      if (current(el) !== saved(el)) { out[key] = [saved(el), current(el)]; }
    });
    return out;
  }
  function dirty(form) { return form.dataset.unsaved === "1" || Object.keys(changes(form)).length > 0; }
  function storageKey(form) { return "coachbox:draft:" + form.dataset.draft; }

  function remember(form) {
    if (!store) { return; }
    var found = changes(form);
    try {
      if (Object.keys(found).length) { store.setItem(storageKey(form), JSON.stringify(found)); }
      else { store.removeItem(storageKey(form)); }
    } catch (e) { /* storage full or refused: the leave warning still protects the text */ }
  }
  function restore(form) {  // a kept change comes back only onto the value it was made from (else it was saved)
    if (!store) { return false; }
    var kept;
    try { kept = JSON.parse(store.getItem(storageKey(form)) || "null"); } catch (e) { kept = null; }
    if (!kept) { return false; }
    var fields = keyed(form), back = false;
    Object.keys(kept).forEach(function (key) {
      var el = fields[key];
      if (!el || saved(el) !== kept[key][0] || current(el) === kept[key][1]) { return; }
      if (el.type === "radio" || el.type === "checkbox") { el.checked = kept[key][1]; } else { el.value = kept[key][1]; }
      el.dispatchEvent(new Event("input", {bubbles: true}));
      back = true;
    });
    if (!back) { store.removeItem(storageKey(form)); }
    return back;
  }

  var note = document.getElementById("draft-note");
  var live = document.getElementById("live");
  var body = document.getElementById("body");
  function show() {
    forms.forEach(function (form) {
      var unsaved = dirty(form), own = form.querySelector(".unsaved-mark");
      form.classList.toggle("dirty", unsaved);
      if (own) { own.hidden = !unsaved; }
    });
    if (live && body) { live.hidden = body.value === body.defaultValue; }
  }

  var restored = false;
  forms.forEach(function (form) {
    if (restore(form)) { restored = true; }
    form.addEventListener("input", function () { remember(form); show(); });
    form.addEventListener("change", function () { remember(form); show(); });
    form.addEventListener("submit", function () {
      submitting = form;
      if (store) { store.removeItem(storageKey(form)); }
      forms.forEach(function (other) { if (other !== form) { remember(other); } });
    });
  });
  if (note && restored) { note.hidden = false; }
  var discard = document.getElementById("draft-discard");
  if (discard) {
    discard.addEventListener("click", function () {
      forms.forEach(function (form) {
        if (store) { store.removeItem(storageKey(form)); }
        if (form.dataset.unsaved !== "1") {
          form.reset();
          editable(form).forEach(function (el) { el.dispatchEvent(new Event("input", {bubbles: true})); });
          if (store) { store.removeItem(storageKey(form)); }
        }
      });
      note.hidden = true;
      show();
    });
  }
  show();

  window.addEventListener("beforeunload", function (event) {
    // Sending a form: its own text is being saved, and the others' is kept in this browser (when it can keep it).
    var unsaved = forms.filter(function (form) {
      return dirty(form) && !(submitting && (form === submitting || store));
    });
    if (unsaved.length) { event.preventDefault(); event.returnValue = ""; }
  });

  // Multiple choice: one more box on demand (a question has at most 8 choices).
  document.querySelectorAll(".add-choice").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var rows = button.parentNode.querySelectorAll(".choice-row");
      var last = rows[rows.length - 1], n = rows.length + 1;
      if (n > 8) { return; }
      var copy = last.cloneNode(true), letter = "ABCDEFGH".charAt(n - 1);
      copy.querySelectorAll("input, label").forEach(function (el) {
        ["id", "for"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) { el.setAttribute(attr, value.replace(/-\d+$/, "-" + n)); }
        });
        el.removeAttribute("autofocus");
      });
      copy.querySelector("input[type=radio]").value = String(n);
      copy.querySelector("input[type=radio]").checked = false;
      copy.querySelector("input[type=radio]").defaultChecked = false;
      copy.querySelector("input[type=text]").name = "choice-" + n;
      copy.querySelector("input[type=text]").value = "";
      copy.querySelector("input[type=text]").defaultValue = "";
      copy.querySelector(".right-mark span[aria-hidden]").textContent = letter;
      copy.querySelector(".right-mark .sr-only").textContent = "Choice " + letter + " is the right answer";
      copy.querySelector("label.sr-only").textContent = "Choice " + letter;
      last.parentNode.insertBefore(copy, last.nextSibling);
      copy.querySelector("input[type=text]").focus();
      if (n >= 8) { button.hidden = true; }
    });
  });
})();
