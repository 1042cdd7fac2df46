/* The simulator page: shows the status light and room state live (long-polling
 * /api/state) and posts each control's JSON to its /simulator endpoint. */
(function () {
  "use strict";

  var BACKOFF_MS = [1000, 2000, 4000, 5000];
  var body = document.body;
  var light = document.getElementById("light");
  var message = document.getElementById("message");
  var current = null;

  function byId(id) {
    return document.getElementById(id);
  }

  function setText(id, text) {
    var node = byId(id);
    if (node && node.textContent !== text) node.textContent = text;
  }

  function render(state) {
    current = state;
    body.setAttribute("data-state", state.state);
    body.setAttribute("data-ready", state.ready ? "true" : "false");
    body.setAttribute("data-pattern", state.lights.pattern);
    var colour = /^#[0-9a-f]{6}$/i.test(state.lights.colour) ? state.lights.colour : "#000000";
    // Set through the CSSOM, which the page's CSP allows (style attributes it does not).
    light.style.backgroundColor = colour;
    light.setAttribute("aria-label", "Status light: " + state.lights.pattern);
    setText("light-pattern", state.lights.pattern);
    setText("light-colour", colour);
    setText("state", state.state);
    setText("ready", state.ready ? "yes" : "no");
    var cd = state.countdown;
    setText("countdown", cd.label ? cd.label + " (" + cd.phase + ")" : cd.message);
    setText("revision", String(state.revision));

    var items = Object.keys(state.checks || {}).map(function (name) {
      var check = state.checks[name];
      var item = document.createElement("li");
      item.setAttribute("data-status", check.status);
      var head = document.createElement("strong");
      head.textContent = name + ": " + check.status;
      var reason = document.createElement("span");
      reason.textContent = " " + check.reason;
      item.append(head, reason);
      return item;
    });
    var list = byId("checks");
    list.replaceChildren.apply(list, items);
  }

  // Mark the button of each device's current setting as pressed.
  function renderDevices(devices) {
    Object.keys(devices || {}).forEach(function (device) {
      var settings = devices[device];
      var group = byId(device);
      if (!settings || !group) return;
      group.querySelectorAll("button.choice").forEach(function (button) {
        var field = button.getAttribute("data-field");
        var value = JSON.parse(button.getAttribute("data-value"));
        button.setAttribute("aria-pressed", settings[field] === value ? "true" : "false");
      });
    });
  }

  async function send(button) {
    var payload = {};
    payload[button.getAttribute("data-field")] = JSON.parse(button.getAttribute("data-value"));
    button.disabled = true;
    try {
      var response = await fetch(button.getAttribute("data-endpoint"), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(payload),
        cache: "no-store"
      });
      var data = await response.json();
      if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
      message.textContent = "";
      renderDevices(data.devices);
      render(data.state);
    } catch (err) {
      message.textContent = "Not done: " + err.message;
    } finally {
      button.disabled = false;
    }
  }

  document.querySelectorAll("button[data-endpoint]").forEach(function (button) {
    button.addEventListener("click", function () { send(button); });
  });

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  async function poll() {
    var failures = 0;
    for (;;) {
      var url = current && failures === 0 ? "/api/state?since=" + current.revision + "&timeout=25" : "/api/state";
      try {
        var response = await fetch(url, { cache: "no-store" });
        if (!response.ok) throw new Error("HTTP " + response.status);
        render(await response.json());
        failures = 0;
        body.setAttribute("data-connection", "ok");
      } catch (err) {
        body.setAttribute("data-connection", "lost");
        await sleep(BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]);
        failures += 1;
      }
    }
  }

  poll();
})();
