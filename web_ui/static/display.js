/* The room display: long-polls /api/state and renders it; ticks the countdown locally.
 *
 * Runs unattended on the room's TV for months, so it must survive a server restart:
 * any network error is retried with a backoff of 1 s up to 5 s, and a revision lower
 * than the one held (the server's counter starts again after a restart) is accepted.
 * No external resources, no inline script (the page's CSP forbids both).
 */
(function () {
  "use strict";

  var LONG_POLL_S = 25;
  // The browser gives up on a request well after the server's longest wait (30 s).
  var REQUEST_LIMIT_MS = 40000;
  var BACKOFF_MS = [1000, 2000, 4000, 5000];

  var STATES = {
    idle: { text: "Waiting to start", icon: "\u25CB", tone: "neutral" },
    checking: { text: "Checking the room\u2026", icon: "\u2026", tone: "amber" },
    ready: { text: "Room ready", icon: "\u2713", tone: "green" },
    not_ready: { text: "Room not ready", icon: "\u2715", tone: "red" },
    countdown: { text: "Conference starts in", icon: "\u25F7", tone: "green" },
    in_session: { text: "Conference in progress", icon: "\u25CF", tone: "blue" },
    ended: { text: "Conference ended", icon: "\u25A0", tone: "neutral" }
  };

  var CHECK_LABELS = {
    camera: "Camera",
    microphone: "Microphone",
    speaker: "Speaker",
    display: "Screen",
    clock: "Clock",
    network: "Network"
  };

  var STATUS = {
    pass: { word: "OK", icon: "\u2713" },
    warn: { word: "Warning", icon: "!" },
    fail: { word: "Not working", icon: "\u2715" }
  };

  var body = document.body;
  var el = {};
  [
    "state", "state-icon", "state-hint", "start-time", "countdown-box", "countdown-caption",
    "countdown", "countdown-message", "joining", "free", "problems", "problem-list", "checks",
    "checked-at", "connection", "calendar-note"
  ].forEach(function (id) { el[id] = document.getElementById(id); });

  var current = null; // the last state received
  var receivedAt = 0; // performance.now() when it arrived

  // -- small helpers -------------------------------------------------------------------

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function show(node, visible) {
    if (node.hidden === visible) node.hidden = !visible;
  }

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // The same format as kiosk.schedule: MM:SS, or H:MM:SS from an hour.
  function clockText(seconds) {
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : pad(m) + ":" + pad(s);
  }

  // The countdown label now, from seconds_to_start and the time since it was received:
  // whole seconds rounded up before the start, "+" elapsed rounded down after it.
  function liveLabel(state) {
    var secs = state.seconds_to_start;
    if (typeof secs !== "number") return state.countdown.label || "";
    var remaining = secs - (performance.now() - receivedAt) / 1000;
    if (remaining > 0) return clockText(Math.ceil(remaining));
    return "+" + clockText(Math.floor(-remaining));
  }

  // "2026-11-23T14:00:00+00:00" is already in the room's time zone: keep its HH:MM.
  function startTime(iso) {
    var match = /T(\d\d:\d\d)/.exec(iso || "");
    return match ? match[1] : null;
  }

  // checked_at is UTC: show it in the kiosk's own time zone (the room's).
  function localTime(iso) {
    if (!iso) return null;
    var when = new Date(iso);
    if (isNaN(when.getTime())) return null;
    return pad(when.getHours()) + ":" + pad(when.getMinutes());
  }

  function checkLabel(name) {
    return CHECK_LABELS[name] || name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, " ");
  }

  // -- rendering -----------------------------------------------------------------------

  function hintFor(state, phase) {
    var pending = phase === "waiting" || phase === "joining";
    switch (state.state) {
      case "idle":
        return "Press the start button to prepare the room for a conference.";
      case "checking":
        return "Checking the camera, microphone, screen and connection. This takes a few seconds.";
      case "ready":
        return pending ? "Press the start button to start the countdown."
                       : "Press the start button when the conference begins.";
      case "not_ready":
        return "Please fix what is listed below, then press the start button to check again.";
      case "ended":
        return "Thank you. Press the start button to prepare the room for the next conference.";
      default:
        return "";
    }
  }

  function renderCountdown(state) {
    var phase = state.countdown.phase;
    var counting = phase === "waiting" || phase === "joining";
    var running = phase === "started" || phase === "overrun";
    // Before the start the countdown matters in every state; after it, only in the session.
    var visible = counting || (running && state.state === "in_session");
    show(el["countdown-box"], visible);
    if (!visible) return;
    setText(el.countdown, liveLabel(state));
    // In "countdown" the heading already says "Conference starts in".
    var caption = "";
    if (counting && state.state !== "countdown") caption = "Conference starts in";
    if (running) caption = "Time since the start";
    setText(el["countdown-caption"], caption);
    show(el["countdown-caption"], caption !== "");
    // In the joining window the message is the joining banner, shown on its own; and a
    // message that repeats the heading ("Conference in progress") or the header's start
    // time ("Conference starts at 17:06") is left out. One that adds the day of a start on
    // another day is kept, and the header's start time steps aside (render).
    var message = phase === "joining" ? "" : state.countdown.message || "";
    if (message === el.state.textContent) message = "";
    if (message === "Conference starts at " + startTime(state.start_at)) message = "";
    setText(el["countdown-message"], message);
    show(el["countdown-message"], message !== "");
  }

  function renderChecks(state) {
    var names = Object.keys(state.checks || {});
    var list = el.checks;
    var problems = [];
    var items = [];
    names.forEach(function (name) {
      var check = state.checks[name];
      var status = STATUS[check.status] ? check.status : "fail";
      var item = document.createElement("li");
      item.id = "check-" + name;
      item.className = "check";
      item.setAttribute("data-status", status);

      var icon = document.createElement("span");
      icon.className = "icon check-icon";
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = STATUS[status].icon;

      var label = document.createElement("span");
      label.className = "check-name";
      label.textContent = checkLabel(name);

      var word = document.createElement("span");
      word.className = "check-status";
      word.textContent = STATUS[status].word;

      var reason = document.createElement("span");
      reason.className = "check-reason";
      reason.textContent = check.reason || "";

      item.append(icon, label, word, reason);
      items.push(item);
      if (status === "fail") problems.push({ name: name, reason: check.reason || "" });
    });
    if (!items.length) {
      var empty = document.createElement("li");
      empty.className = "check-empty";
      empty.textContent = state.state === "checking" ? "Checking\u2026" : "Not checked yet";
      items.push(empty);
    }
    // Replace only when something changed, so the list does not flicker every second.
    var signature = JSON.stringify([state.checks, state.state === "checking"]);
    if (list.getAttribute("data-signature") !== signature) {
      list.replaceChildren.apply(list, items);
      list.setAttribute("data-signature", signature);
    }
    list.classList.toggle("stale", state.state === "checking");
    return problems;
  }

  function renderProblems(state, problems) {
    // While checking, the old results are about to be replaced: do not alarm anyone.
    var visible = problems.length > 0 && state.state !== "checking";
    show(el.problems, visible);
    if (!visible) return;
    var signature = JSON.stringify(problems);
    if (el["problem-list"].getAttribute("data-signature") === signature) return;
    var items = problems.map(function (p) {
      var item = document.createElement("li");
      item.className = "problem";
      var icon = document.createElement("span");
      icon.className = "icon problem-icon";
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = STATUS.fail.icon;
      // The reason names the device itself ("Screen not detected on HDMI-A-1 ...").
      var reason = document.createElement("span");
      reason.className = "problem-reason";
      reason.textContent = p.reason || checkLabel(p.name) + " is not working";
      item.setAttribute("data-check", p.name);
      item.append(icon, reason);
      return item;
    });
    el["problem-list"].replaceChildren.apply(el["problem-list"], items);
    el["problem-list"].setAttribute("data-signature", signature);
  }

  // The fault list must never be cut off: shrink what to do, step by step, until the status column fits
  // (at 1.1rem, 33px at 1080p, it fits any number of checks with reasons of the usual length).
  var FIX_SIZES = [1.6, 1.5, 1.4, 1.3, 1.2, 1.1];

  function fitChecks() {
    var panel = document.querySelector(".checks-panel");
    var fit = 0;
    panel.setAttribute("data-fit", "0");
    while (panel.scrollHeight > panel.clientHeight + 1 && fit < 2) {
      fit += 1;
      panel.setAttribute("data-fit", String(fit));
    }
  }

  function fitProblems() {
    var status = document.querySelector(".status");
    var i = 0;
    body.style.setProperty("--fix-size", FIX_SIZES[0] + "rem");
    if (el.problems.hidden) return;
    while (status.scrollHeight > status.clientHeight + 1 && i < FIX_SIZES.length - 1) {
      i += 1;
      body.style.setProperty("--fix-size", FIX_SIZES[i] + "rem");
    }
  }

  // The bookings may be out of date when the calendar could not be read: say so, with when it last was.
  function renderCalendar(state) {
    var calendar = state.calendar;
    var stale = !!(calendar && calendar.stale);
    var text = "";
    if (stale) {
      var last = localTime(calendar.last_good_at);
      text = "Today\u2019s bookings may be out of date" +
        (last ? " (calendar last read at " + last + ")" : " (the calendar could not be read)");
    }
    setText(el["calendar-note"], text);
    show(el["calendar-note"], stale);
  }

  function render(state) {
    var info = STATES[state.state] || { text: state.state, icon: "?", tone: "neutral" };
    var phase = state.countdown ? state.countdown.phase : "free";
    body.setAttribute("data-state", state.state);
    body.setAttribute("data-ready", state.ready ? "true" : "false");
    body.setAttribute("data-phase", phase);
    body.setAttribute("data-tone", info.tone);

    setText(el.state, info.text);
    setText(el["state-icon"], info.icon);
    var hint = hintFor(state, phase);
    setText(el["state-hint"], hint);
    show(el["state-hint"], hint !== "");

    renderCountdown(state);
    var start = startTime(state.start_at);
    var startInMessage = phase === "waiting" && !el["countdown-message"].hidden;
    setText(el["start-time"], start ? "Start time " + start : "");
    show(el["start-time"], !!start && !startInMessage);
    show(el.joining, phase === "joining" && (state.state === "countdown" || state.state === "ready"));
    setText(el.free, phase === "free" ? state.countdown.message || "" : "");
    // "Free today" is news when the room is idle or ready, not while something needs fixing.
    show(el.free, phase === "free" && ["idle", "ready", "ended"].indexOf(state.state) >= 0);

    renderProblems(state, renderChecks(state));
    body.setAttribute("data-problems", el.problems.hidden ? "false" : "true");
    renderCalendar(state);
    fit();

    var checked = localTime(state.checked_at);
    setText(el["checked-at"], checked ? "Checked at " + checked : "");
    show(el["checked-at"], !!checked);
  }

  function tick() {
    if (current && !el["countdown-box"].hidden) setText(el.countdown, liveLabel(current));
  }

  // -- connection ----------------------------------------------------------------------

  function setConnected(ok) {
    body.setAttribute("data-connection", ok ? "ok" : "lost");
    show(el.connection, !ok);
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function fetchState(url) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, REQUEST_LIMIT_MS);
    return fetch(url, { cache: "no-store", signal: controller.signal, headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .finally(function () { clearTimeout(timer); });
  }

  async function poll() {
    var failures = 0;
    for (;;) {
      // After an error (perhaps a restart) ask for the state at once, without "since".
      var url = current && failures === 0
        ? "/api/state?since=" + current.revision + "&timeout=" + LONG_POLL_S
        : "/api/state";
      try {
        var asked = performance.now();
        var before = current && current.revision;
        var state = await fetchState(url);
        if (state.version && body.getAttribute("data-version") !== state.version) {
          window.location.reload(); // the kiosk was upgraded: load the new page and script
          return;
        }
        failures = 0;
        current = state; // a lower revision than ours means the server restarted: accept it
        receivedAt = performance.now();
        setConnected(true);
        render(state);
        // A long-poll answered at once with nothing new: the kiosk is busy with other displays; ask again
        // in a second rather than at once.
        if (url !== "/api/state" && state.revision === before && performance.now() - asked < 1000) {
          await sleep(1000);
        }
      } catch (err) {
        setConnected(false);
        await sleep(BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]);
        failures += 1;
      }
    }
  }

  function fit() {
    fitProblems();
    fitChecks();
  }

  window.addEventListener("resize", fit);
  setInterval(tick, 250);
  poll();
})();
