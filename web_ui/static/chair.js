/* The chair's page. Without this script every form still works (with a reload); with it:
 *
 * - Forms marked data-live are sent in the background, each with an Idempotency-Key of its own (a retry after
 *   a dropped connection is recorded once), and the live parts of the page (#live-head, #live) are swapped for
 *   the server's re-rendered copy. A tap names the state the card showed (expect_state, in the tap's value):
 *   a tap from an out-of-date page answers 409 with the current page and the reason, shown in the message.
 * - A tap means one thing: the buttons of a card that just changed ignore taps for SETTLE_MS; every tap that
 *   records something says who, what and when, with Undo, for MESSAGE_MS; a tap that records nothing says so.
 * - The page is live: it long-polls GET /api/conferences/<id>?since=<revision> and fetches the live parts when
 *   the record changed (on another tablet, through the API, or from the room's start button). That open request
 *   is also what keeps the chair signed in while the page is open.
 * - Ending the conference and removing an invitee ask first (a dialog; without the script, a page).
 * - The kiosk's clock ticks on the page.
 * body[data-last-tap-ms] holds the time from the last tap to its result on screen. */
(function () {
  "use strict";

  var SETTLE_MS = 600;
  var MESSAGE_MS = 10000;
  var ERROR_MS = 12000;

  var body = document.body;
  var toast = document.getElementById("toast");
  var head = document.getElementById("live-head");
  var live = document.getElementById("live");
  var dialog = document.getElementById("confirm");
  var toastTimer = null;
  var busy = false;
  var settleUntil = {}; // invitee id -> performance.now() until which the card's buttons ignore taps
  var recorded = null; // the message of the tap last recorded ({text, undo}) while it is shown
  var clock = { base: null, at: 0 };

  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function newKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes); // crypto.randomUUID needs HTTPS; the kiosk may be served over plain HTTP
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  // -- the message ------------------------------------------------------------------------------------------

  /* Show `text` in the message slot (kind "ok", "error" or "info"), with Undo for `undoEvent` if given. The
   * slot keeps its place and size on the conference page, so a message never moves or covers the list. */
  function say(text, kind, undoEvent, link) {
    if (!toast) return;
    clearTimeout(toastTimer);
    var words = document.createElement("span");
    words.className = "toast-text";
    words.textContent = text;
    toast.replaceChildren(words);
    if (undoEvent) {
      var undo = document.createElement("button");
      undo.type = "button";
      undo.className = "btn btn-small toast-undo";
      undo.id = "toast-undo";
      undo.textContent = "Undo";
      undo.setAttribute("data-undo-event", undoEvent);
      toast.append(undo);
    }
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      toast.append(" ", a);
    }
    toast.className = toast.className.replace(/\bis-\w+/g, "").trim() + " is-" + (kind || "ok");
    toast.hidden = false;
    recorded = undoEvent ? { text: text, undo: undoEvent } : null;
    toastTimer = setTimeout(clearMessage, kind === "error" ? ERROR_MS : MESSAGE_MS);
  }

  function clearMessage() {
    recorded = null;
    if (!toast) return;
    toast.replaceChildren();
    toast.className = toast.className.replace(/\bis-\w+/g, "").trim();
    if (toast.classList.contains("toast-float")) toast.hidden = true;
  }

  function signInLink() {
    return { href: "/chair/login?next=" + encodeURIComponent(location.pathname), text: "Sign in again" };
  }

  async function errorText(response) {
    try {
      var data = await response.json();
      var text = data.error || "";
      if (data.problems && data.problems.length > 10) text += " (" + data.problems.length + " problems in all)";
      return "Not saved: " + (text || "error " + response.status);
    } catch (err) {
      return "Not saved (error " + response.status + "). Reload the page and try again.";
    }
  }

  // -- swapping in the server's copy ----------------------------------------------------------------------

  function cards() {
    var out = {};
    if (!live) return out;
    live.querySelectorAll("article.person").forEach(function (card) {
      var buttons = Array.prototype.map.call(card.querySelectorAll("button"), function (b) { return b.value; });
      out[card.getAttribute("data-invitee")] = card.getAttribute("data-state") + "|" + buttons.join(",");
    });
    return out;
  }

  /* What the chair is in the middle of (open disclosures, typed text, focus): kept across a swap. */
  function keep(region) {
    var state = { open: [], values: {}, focus: null };
    region.querySelectorAll("details[open][id]").forEach(function (d) { state.open.push(d.id); });
    region.querySelectorAll("textarea[id], input[id]:not([type=hidden])").forEach(function (f) {
      if (f.value) state.values[f.id] = f.value;
    });
    if (document.activeElement && region.contains(document.activeElement)) state.focus = document.activeElement.id;
    return state;
  }

  function restore(state) {
    state.open.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
    Object.keys(state.values).forEach(function (id) {
      var f = document.getElementById(id);
      if (f && !f.value) f.value = state.values[id];
    });
    if (state.focus) {
      var el = document.getElementById(state.focus);
      if (el) el.focus();
    }
  }

  function swap(html) {
    var fragment = document.createElement("template");
    fragment.innerHTML = html; // the server's own template: no script can run from it (CSP forbids inline script)
    var newHead = fragment.content.getElementById("live-head");
    var newLive = fragment.content.getElementById("live");
    if (!newHead || !newLive || !head || !live) return;
    var before = cards();
    var status = document.getElementById("live-revision");
    var newStatus = newHead.querySelector("#live-revision");
    if (status && newStatus && status.getAttribute("data-status") !== newStatus.getAttribute("data-status")) {
      location.reload(); // ended or reopened elsewhere: the rest of the page (End / Reopen) changes too
      return;
    }
    var kept = [keep(head), keep(live)];
    head.replaceChildren.apply(head, Array.prototype.slice.call(newHead.childNodes));
    live.replaceChildren.apply(live, Array.prototype.slice.call(newLive.childNodes));
    kept.forEach(restore);
    var after = cards();
    Object.keys(after).forEach(function (id) {
      if (before[id] !== undefined && before[id] !== after[id]) settle(id);
    });
    startClock();
    var message = fragment.content.getElementById("live-message");
    if (message) {
      say(message.textContent, message.classList.contains("is-error") ? "error" : "ok",
          message.getAttribute("data-undo-event"));
    }
  }

  /* A card that just changed ignores taps for a moment: a quick second tap meant for the button that was
   * there must not land on the one that took its place. */
  function settle(id) {
    settleUntil[id] = performance.now() + SETTLE_MS;
    var card = document.getElementById("person-" + id);
    if (card) {
      card.classList.add("is-settling");
      setTimeout(function () {
        var now = document.getElementById("person-" + id);
        if (now) now.classList.remove("is-settling");
      }, SETTLE_MS);
    }
  }

  function revision() {
    var el = document.getElementById("live-revision");
    return el ? el.getAttribute("data-revision") : "";
  }

  // -- sending --------------------------------------------------------------------------------------------

  /* POST with one Idempotency-Key; a request the network lost is sent once more with the same key, so the
   * server records it once whether or not the first one arrived. */
  async function post(url, data, key) {
    var options = {
      method: "POST", body: data, credentials: "same-origin", cache: "no-store",
      headers: { "X-CSRFToken": token(), "X-Chair-Fragment": "live", "Idempotency-Key": key, Accept: "text/html" }
    };
    try {
      return await fetch(url, options);
    } catch (err) {
      await sleep(500);
      return await fetch(url, options);
    }
  }

  async function send(form, submitter, extra) {
    if (busy) {
      say("Still saving the last tap: this one was not recorded.", "info");
      return;
    }
    var started = performance.now();
    var url = submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
    var data = new FormData(form, submitter || undefined);
    Object.keys(extra || {}).forEach(function (name) { data.set(name, extra[name]); });
    busy = true;
    body.setAttribute("data-busy", "true");
    if (submitter) submitter.classList.add("is-busy");
    try {
      var response = await post(url, data, newKey());
      if (response.status === 401) {
        say("Your session has ended: nothing was saved.", "error", null, signInLink());
        return;
      }
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("text/html") === 0) {
        swap(await response.text()); // also a 409: the page as it is now, and why nothing was saved
      } else if (!response.ok) {
        say(await errorText(response), "error");
        return;
      }
      if (response.ok) {
        if (form.hasAttribute("data-reset")) form.reset();
        if (form.hasAttribute("data-show-list")) document.getElementById("attendance").scrollIntoView();
      }
      body.setAttribute("data-last-tap-ms", (performance.now() - started).toFixed(1));
    } catch (err) {
      say("Not saved: the kiosk did not answer. Check the Wi-Fi and try again.", "error");
    } finally {
      busy = false;
      body.removeAttribute("data-busy");
      if (submitter) submitter.classList.remove("is-busy");
    }
  }

  /* Undo from the message: a correction of the event just recorded (the log keeps both). */
  function undo(eventId) {
    var form = document.createElement("form");
    form.action = head.getAttribute("data-correct-url");
    clearMessage();
    return send(form, null, { csrf_token: token(), event_id: eventId, reason: head.getAttribute("data-undo-reason") });
  }

  // -- live on every tablet -------------------------------------------------------------------------------

  async function refresh() {
    if (!live || !head || busy) return;
    try {
      var response = await fetch(head.getAttribute("data-live-url"), {
        credentials: "same-origin", cache: "no-store", headers: { "X-Chair-Fragment": "live" }
      });
      if (response.ok && !busy) swap(await response.text());
      else if (response.status === 401) say("Your session has ended.", "error", null, signInLink());
    } catch (err) {
      /* offline for a moment: the next poll or tap says so */
    }
  }

  /* Wait for the next change of the record (the server answers at once when there is one), then show it.
   * The wait is shorter than the session's idle timeout, so the open page keeps the chair signed in. */
  async function poll() {
    var idle = parseFloat(body.getAttribute("data-idle-timeout-s")) || 1800;
    var wait = Math.max(1, Math.min(25, Math.floor(idle / 4)));
    var url = head.getAttribute("data-api-url");
    for (;;) {
      var began = Date.now();
      try {
        var response = await fetch(url + "?since=" + encodeURIComponent(revision()) + "&timeout=" + wait, {
          credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" }
        });
        if (response.status === 401) {
          say("Your session has ended.", "error", null, signInLink());
          return;
        }
        if (response.status === 404) return; // the record was deleted
        if (response.ok) {
          var view = await response.json();
          if (String(view.revision) !== revision()) await refresh();
        }
      } catch (err) {
        /* the Wi-Fi dropped: try again shortly */
      }
      if (Date.now() - began < 1000) await sleep(1000); // never a tight loop, whatever the server does
    }
  }

  // -- the clock ------------------------------------------------------------------------------------------

  function startClock() {
    var el = document.getElementById("kiosk-time");
    if (!el) return;
    var parts = (el.getAttribute("data-now") || "").split(":").map(Number);
    if (parts.length < 2 || parts.some(isNaN)) return;
    clock.base = parts[0] * 3600 + parts[1] * 60 + (parts[2] || 0);
    clock.at = performance.now();
    tick();
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    var el = document.getElementById("kiosk-time");
    if (!el || clock.base === null) return;
    var s = Math.floor(clock.base + (performance.now() - clock.at) / 1000) % 86400;
    el.textContent = pad(Math.floor(s / 3600)) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
  }

  /* The kiosk's time now, in milliseconds since 1970 (the page's own clock may be wrong). */
  function kioskNowMs() {
    var el = document.getElementById("kiosk-time");
    var ms = el ? parseFloat(el.getAttribute("data-now-ms")) : NaN;
    return isNaN(ms) ? Date.now() : ms + (performance.now() - clock.at);
  }

  // -- asking first ---------------------------------------------------------------------------------------

  function ask(text, yes, warning) {
    return new Promise(function (resolve) {
      if (!dialog || !dialog.showModal) { resolve(window.confirm(text + (warning ? "\n\n" + warning : ""))); return; }
      document.getElementById("confirm-text").textContent = text;
      document.getElementById("confirm-yes").textContent = yes || "Yes";
      var warn = document.getElementById("confirm-warning");
      warn.textContent = warning || "";
      warn.hidden = !warning;
      dialog.returnValue = "";
      dialog.addEventListener("close", function done() {
        dialog.removeEventListener("close", done);
        resolve(dialog.returnValue === "yes");
      });
      dialog.showModal();
    });
  }

  function earlyWarning(form) {
    var starts = Date.parse(form.getAttribute("data-starts") || "");
    return !isNaN(starts) && kioskNowMs() < starts ? form.getAttribute("data-early") : null;
  }

  // -- events ---------------------------------------------------------------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var asks = submitter && submitter.hasAttribute("data-confirm") ? submitter
      : form.hasAttribute("data-confirm") ? form : null;
    if (asks) {
      event.preventDefault();
      ask(asks.getAttribute("data-confirm"), asks.getAttribute("data-confirm-yes"),
          asks === form ? earlyWarning(form) : null).then(function (yes) {
        if (!yes) { say("Nothing changed.", "info"); return; }
        if (live && form.hasAttribute("data-live")) { send(form, submitter, { confirm: "yes" }); return; }
        var confirm = document.createElement("input");
        confirm.type = "hidden";
        confirm.name = "confirm";
        confirm.value = "yes";
        form.append(confirm);
        form.submit();
      });
      return;
    }
    if (!live || !form.hasAttribute("data-live")) return;
    event.preventDefault();
    send(form, submitter);
  });

  // Taps on the attendance list: those that would record nothing say so.
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target.closest) return;
    var card = target.closest("article.person");
    if (card) {
      var button = target.closest("button");
      var id = card.getAttribute("data-invitee");
      var name = card.getAttribute("data-name");
      if (!button) {
        say(card.querySelector("button") ? "Nothing recorded: tap one of " + name + "\u2019s buttons."
          : "Nothing recorded: the conference has ended (reopen it to record attendance).", "info");
      } else if (busy) {
        event.preventDefault();
        say("Still saving the last tap: nothing recorded for " + name + ".", "info");
      } else if (settleUntil[id] && performance.now() < settleUntil[id]) {
        event.preventDefault();
        var first = recorded;
        if (first && first.text.indexOf(name + ":") === 0) {
          // A double tap: what the first tap recorded, and its Undo, stay in view.
          say(first.text + " (the second tap did nothing)", "ok", first.undo);
          recorded = first;
        } else {
          say("Nothing recorded: " + name + "\u2019s card had just changed. Check it, then tap again.", "info");
        }
      }
      return;
    }
    if (target.closest("#taps") && !target.closest("button")) {
      say("Nothing recorded: tap one of a person\u2019s buttons.", "info"); // between the cards
      return;
    }
    var undoButton = target.closest("#toast-undo");
    if (undoButton) { undo(undoButton.getAttribute("data-undo-event")); return; }
    if (target.closest("[data-print]")) window.print();
    if (target === toast && toast.classList.contains("toast-float")) clearMessage();
  }, true);

  // A chosen CSV file is read into the text box, so it can be checked before it is imported.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-csv-target]") || !input.files.length) return;
    var target = document.getElementById(input.getAttribute("data-csv-target"));
    var file = input.files[0];
    function read(encoding) {
      var reader = new FileReader();
      reader.onload = function () {
        var text = String(reader.result);
        // Spreadsheets on Windows still save CSV as Windows-1252, which is not valid UTF-8.
        if (encoding === "utf-8" && text.indexOf("\ufffd") >= 0) return read("windows-1252");
        target.value = text.replace(/^\ufeff/, "");
        input.value = "";
        say("The file is in the box: check it, then import it.", "info");
      };
      reader.onerror = function () { say("The file could not be read.", "error"); };
      reader.readAsText(file, encoding);
    }
    read("utf-8");
  });

  // A tablet woken from sleep may show an old list: fetch the live part again.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refresh();
  });

  // A message the page came with (after a form sent without the script) goes like any other.
  if (toast && toast.firstElementChild) toastTimer = setTimeout(clearMessage, MESSAGE_MS);
  startClock();
  setInterval(tick, 1000);
  if (head && live) poll();
})();
