/* The chair's page: forms marked data-live are sent in the background and the live part of the page
 * (quorum, attendance, reports, events) is swapped for the server's re-rendered copy, so a tap shows its
 * result at once without reloading. Without this script every form still works (with a reload).
 * body[data-last-tap-ms] holds the time from the last tap to its result on screen. */
(function () {
  "use strict";

  var body = document.body;
  var toast = document.getElementById("toast");
  var live = document.getElementById("live");
  var toastTimer = null;
  var busy = false;

  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function showToast(text, isError, link) {
    if (!toast) return;
    clearTimeout(toastTimer);
    toast.replaceChildren(document.createTextNode(text));
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      toast.append(" ", a);
    }
    toast.classList.toggle("is-error", !!isError);
    toast.hidden = false;
    toastTimer = setTimeout(function () { toast.hidden = true; }, isError ? 12000 : 4000);
  }

  function signInLink() {
    return { href: "/chair/login?next=" + encodeURIComponent(location.pathname), text: "Sign in again" };
  }

  async function errorText(response) {
    try {
      var data = await response.json();
      var text = data.error || "";
      if (data.problems && data.problems.length > 10) text += " (" + data.problems.length + " problems in all)";
      return text || "Not saved (error " + response.status + ")";
    } catch (err) {
      return "Not saved (error " + response.status + "). Reload the page and try again.";
    }
  }

  function swap(html) {
    live.innerHTML = html; // the server's own template: no script can be in it (CSP forbids inline script)
    var message = document.getElementById("live-message");
    if (message) {
      showToast(message.textContent, false);
      message.remove();
    }
  }

  async function send(form, submitter) {
    if (busy) return;
    var started = performance.now();
    var url = submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
    var data = new FormData(form, submitter || undefined);
    busy = true;
    body.setAttribute("data-busy", "true");
    if (submitter) submitter.classList.add("is-busy");
    try {
      var response = await fetch(url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        cache: "no-store",
        headers: { "X-CSRFToken": token(), "X-Chair-Fragment": "live", Accept: "text/html" }
      });
      if (response.status === 401) {
        showToast("Your session has ended: nothing was saved.", true, signInLink());
        return;
      }
      if (!response.ok) {
        showToast(await errorText(response), true);
        return;
      }
      swap(await response.text());
      if (form.hasAttribute("data-reset")) form.reset();
      body.setAttribute("data-last-tap-ms", (performance.now() - started).toFixed(1));
    } catch (err) {
      showToast("Not saved: the kiosk did not answer. Check the Wi-Fi and try again.", true);
    } finally {
      busy = false;
      body.removeAttribute("data-busy");
      if (submitter) submitter.classList.remove("is-busy");
    }
  }

  async function refresh() {
    if (!live || busy) return;
    try {
      var response = await fetch(live.getAttribute("data-live-url"), {
        credentials: "same-origin", cache: "no-store", headers: { "X-Chair-Fragment": "live" }
      });
      if (response.ok) swap(await response.text());
      else if (response.status === 401) showToast("Your session has ended.", true, signInLink());
    } catch (err) {
      /* offline for a moment: the next tap says so */
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!live || !form.hasAttribute("data-live")) return;
    event.preventDefault();
    send(form, event.submitter);
  });

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
        showToast("The file is in the box: check it, then import it.", false);
      };
      reader.onerror = function () { showToast("The file could not be read.", true); };
      reader.readAsText(file, encoding);
    }
    read("utf-8");
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) window.print();
    if (event.target === toast) toast.hidden = true;
  });

  // A tablet woken from sleep may show an old list: fetch the live part again.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refresh();
  });
})();
