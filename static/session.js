// Nothing typed is lost (served from our own origin, as the CSP requires):
// 1. a draft kept by the server after her session ended is put back into its form;
// 2. a warning before the session times out, from the server's own count (so two
//    tabs agree), with "Stay signed in";
// 3. a Save that cannot reach the server leaves the page as it is and says so.
// Nothing is ever written to browser storage: the tablet is shared. Every sentence
// shown is in the page (templates/accounts/_session.html); this only shows it.
(function () {
  "use strict";

  var STATUS_URL = "/session";

  function fetchStatus(url) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, 8000);
    return fetch(url, {
      cache: "no-store",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: controller.signal,
    }).then(function (response) {
      clearTimeout(timer);
      if (!response.ok) throw new Error("status " + response.status);
      return response.json();
    }, function (error) {
      clearTimeout(timer);
      throw error;
    });
  }

  // -- 1. a restored draft ---------------------------------------------------------

  function never(element) {
    var name = element.name || "";
    var type = (element.type || "").toLowerCase();
    return !name || name === "csrf_token" || /password/i.test(name) ||
      type === "password" || type === "file" || type === "submit" ||
      type === "button" || type === "reset" || type === "image";
  }

  function restore() {
    var holder = document.getElementById("restored-draft");
    if (!holder) return;
    var pairs;
    try { pairs = JSON.parse(holder.dataset.fields || "[]"); } catch (e) { return; }
    var values = {};
    pairs.forEach(function (pair) {
      (values[pair[0]] = values[pair[0]] || []).push(pair[1]);
    });
    var path = holder.dataset.path;
    var form = Array.prototype.find.call(document.forms, function (candidate) {
      return candidate.method === "post" && new URL(candidate.action, location.href).pathname === path &&
        !candidate.hasAttribute("data-session-extend");
    });
    if (!form) return;
    var used = {};
    Array.prototype.forEach.call(form.elements, function (element) {
      if (never(element)) return;
      var name = element.name;
      var given = values[name];
      var type = (element.type || "").toLowerCase();
      if (type === "checkbox" || type === "radio") {
        // Posted forms omit unticked boxes: absent means unticked.
        element.checked = !!given && given.indexOf(element.value) !== -1;
      } else if (element.tagName === "SELECT" && element.multiple) {
        Array.prototype.forEach.call(element.options, function (option) {
          option.selected = !!given && given.indexOf(option.value) !== -1;
        });
      } else if (given) {
        var index = used[name] || 0;
        if (index < given.length) {
          element.value = given[index];
          // Widgets that keep their own state (the signature pad) hear of it.
          element.dispatchEvent(new Event("change", { bubbles: true }));
        }
        used[name] = index + 1;
      }
    });
  }

  // -- 2. the idle warning ----------------------------------------------------------

  function watchSession() {
    var box = document.getElementById("session-warning");
    if (!box) return;
    var statusUrl = box.dataset.statusUrl || STATUS_URL;
    var warnAt = parseInt(box.dataset.warnSeconds, 10) * 1000;
    var deadline = null;
    var nextPoll = 0;
    var checking = false;
    var shown = null;
    var extendForm = box.querySelector("form[data-session-extend]");

    function show(state, minutes) {
      if (state === shown && state !== "minutes") return;
      var minutesText = box.querySelector("[data-minutes]");
      if (state === "minutes" && shown === "minutes" && minutesText.textContent === String(minutes)) return;
      if (minutesText && minutes) minutesText.textContent = String(minutes);
      box.querySelectorAll("[data-state]").forEach(function (part) {
        part.hidden = part.dataset.state !== state;
      });
      extendForm.hidden = state === "ended" || state === "signed-out";
      box.hidden = state === null;
      shown = state;
    }

    var kept = true;

    function sync(answer) {
      deadline = Date.now() + answer.seconds_left * 1000;
      kept = answer.kept_if_saved !== false;
    }

    function poll() {
      if (checking) return;
      checking = true;
      fetchStatus(statusUrl).then(sync, function () { /* unreachable: keep counting */ })
        .then(function () { checking = false; tick(); });
    }

    function tick() {
      if (deadline === null) return;
      var now = Date.now();
      var left = deadline - now;
      if (left <= 0) {
        show(kept ? "ended" : "signed-out");
      } else if (left <= warnAt) {
        var minutes = Math.ceil(left / 60000);
        if (minutes >= 2) show("minutes", minutes); else show("soon");
      } else {
        show(null);
      }
      // Ask the server again: often while the warning is up (another tab may have
      // extended the session), otherwise shortly before the warning is due.
      if (now >= nextPoll) {
        var wait = shown ? 5000 : Math.min(60000, Math.max(2000, (left - warnAt) / 2));
        nextPoll = now + wait;
        poll();
      }
    }

    extendForm.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(extendForm.action, {
        method: "POST",
        body: new FormData(extendForm),
        cache: "no-store",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      }).then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      }).then(function (answer) {
        sync(answer);
        nextPoll = 0;
        tick();
      }, function () { /* unreachable: the warning stays */ });
    });

    poll();
    setInterval(tick, 1000);
  }

  // -- 3. a Save that cannot reach the server ---------------------------------------

  // Asked synchronously, inside the submit event: when the server answers, the
  // browser's own submission goes on untouched (the button pressed, other scripts'
  // submit handlers such as the signature pad, downloads); when it does not, the
  // submission is cancelled before the page is replaced by the browser's error page.
  // An asynchronous check would have to re-submit the form later, which changes
  // what the submission is and when it happens.
  function serverReachable(url) {
    if (navigator.onLine === false) return false;
    try {
      var request = new XMLHttpRequest();
      request.open("GET", url, false);
      request.setRequestHeader("Accept", "application/json");
      request.send();
      return request.status === 200;
    } catch (error) {
      return false;
    }
  }

  function guardSaves() {
    var template = document.getElementById("save-offline-message");
    if (!template) return;
    var statusUrl = template.dataset.statusUrl || STATUS_URL;

    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
      if (form.method !== "post" || form.hasAttribute("data-session-extend")) return;
      var old = form.querySelector(".save-offline");
      if (old) old.remove();
      if (serverReachable(statusUrl)) return;
      event.preventDefault();
      var message = template.content.firstElementChild.cloneNode(true);
      var submitter = event.submitter;
      if (submitter && submitter.form === form && submitter.parentNode) {
        submitter.parentNode.insertBefore(message, submitter);
      } else {
        form.insertBefore(message, form.firstChild);
      }
      message.scrollIntoView({ block: "center" });
    });
  }

  restore();
  watchSession();
  guardSaves();
})();
