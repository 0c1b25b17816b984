// faceverdict review UI: progressive enhancement only; every action also works without it.
"use strict";
(function () {
  const body = document.body;
  const base = body.dataset.base || "";
  const csrf = body.dataset.csrf || "";

  function post(url) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json" },
    }).then(function (r) {
      if (r.status === 401) { window.location.href = base + "/login?next=" + encodeURIComponent(location.pathname); }
      if (!r.ok) { return r.json().then(function (b) { throw new Error(b.error || r.statusText); }); }
      return r.json();
    });
  }

  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
  }

  function fmt(seconds) {
    const s = Math.abs(Math.round(seconds));
    if (s < 60) { return s + " s"; }
    const m = Math.floor(s / 60);
    if (m < 60) { return m + " min"; }
    const h = Math.floor(m / 60);
    if (h < 48) { return h + " h " + String(m % 60).padStart(2, "0") + " min"; }
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  // queue: "n" claims the next task
  const next = document.getElementById("claim-next");
  if (next && !document.getElementById("case")) {
    document.addEventListener("keydown", function (e) {
      if (!typing(e.target) && !e.ctrlKey && !e.metaKey && e.key === "n") { e.preventDefault(); next.click(); }
    });
  }

  const caseEl = document.getElementById("case");
  if (!caseEl) { return; }
  const task = caseEl.dataset.task;
  const held = caseEl.dataset.held === "1";
  const capture = document.getElementById("capture");
  const state = document.getElementById("redaction-state");
  const revealForm = document.getElementById("reveal-form");
  const redactForm = document.getElementById("redact-form");

  // reveal / redact without a page load
  function setRevealed(src, revealed) {
    capture.src = src + "&t=" + Date.now();
    state.textContent = revealed ? "revealed" : "redacted";
    revealForm.hidden = revealed;
    redactForm.hidden = !revealed;
  }
  function toggleReveal() {
    if (!revealForm) { return; }
    const revealing = !revealForm.hidden;
    post(base + "/tasks/" + task + (revealing ? "/reveal" : "/redact"))
      .then(function (b) { setRevealed(b.src, b.revealed); })
      .catch(function (err) { alert(err.message); });
  }
  [revealForm, redactForm].forEach(function (f) {
    if (f) { f.addEventListener("submit", function (e) { e.preventDefault(); toggleReveal(); }); }
  });

  // heatmaps
  const toggles = Array.prototype.slice.call(document.querySelectorAll(".hm-toggle"));
  function toggleHeatmaps() {
    const anyOn = toggles.some(function (t) { return t.checked; });
    toggles.forEach(function (t) { t.checked = !anyOn; });
  }

  // verdict form
  const form = document.getElementById("verdict-form");
  const attack = document.getElementById("attack-type");
  const note = document.getElementById("note");
  function pick(value) {
    const radio = form && form.querySelector('input[name="label"][value="' + value + '"]');
    if (!radio) { return; }
    radio.checked = true;
    sync();
    if (value === "fake") { attack.focus(); }
    if (value === "inconclusive") { note.focus(); }
  }
  function sync() {
    if (!form) { return; }
    const chosen = form.querySelector('input[name="label"]:checked');
    const label = chosen ? chosen.value : "";
    attack.disabled = label !== "" && label !== "fake";
    attack.required = label === "fake";
    note.required = label === "inconclusive";
  }
  if (form) {
    form.addEventListener("change", sync);
    attack.addEventListener("change", function () { if (attack.value) { pick("fake"); attack.blur(); } });
    sync();
  }

  let help = null;
  function toggleHelp() {
    if (help) { help.remove(); help = null; return; }
    help = document.createElement("div");
    help.className = "help";
    help.textContent = "G genuine · F fake · I inconclusive · 1–6 attack type · R reveal/redact · H heatmaps · Ctrl+Enter submit · ? this help";
    document.body.appendChild(help);
  }

  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter" && form) {
      e.preventDefault();
      if (form.reportValidity()) { form.submit(); }
      return;
    }
    if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) {
      if (e.key === "Escape" && e.target) { e.target.blur(); }
      return;
    }
    const key = e.key.toLowerCase();
    if (key === "g") { pick("genuine"); }
    else if (key === "f") { pick("fake"); }
    else if (key === "i") { pick("inconclusive"); e.preventDefault(); }
    else if (key >= "1" && key <= "6" && attack) { attack.selectedIndex = Number(key); pick("fake"); attack.blur(); }
    else if (key === "r") { toggleReveal(); }
    else if (key === "h") { toggleHeatmaps(); }
    else if (key === "?") { toggleHelp(); }
    else { return; }
    e.preventDefault();
  });

  // countdowns, and a lease kept alive while the page is open
  const due = Date.parse(caseEl.dataset.due);
  let lease = caseEl.dataset.lease ? Date.parse(caseEl.dataset.lease) : null;
  const slaEl = document.getElementById("sla-left");
  const leaseEl = document.getElementById("lease-left");
  function tick() {
    const left = (due - Date.now()) / 1000;
    slaEl.textContent = left < 0 ? "overdue by " + fmt(left) : fmt(left) + " left";
    if (leaseEl && lease) { leaseEl.textContent = lease > Date.now() ? fmt((lease - Date.now()) / 1000) : "lapsed"; }
  }
  setInterval(tick, 1000);
  if (held) {
    setInterval(function () {
      post(base + "/tasks/" + task + "/renew")
        .then(function (b) { lease = Date.parse(b.expires_at); })
        .catch(function () { if (leaseEl) { leaseEl.textContent = "lapsed: claim again"; } });
    }, 60000);
  }
})();
