// Passkeys (WebAuthn) for the sign-in, re-authentication and account pages. Served
// from our own origin, as the Content Security Policy requires. Each
// `[data-passkey]` block carries the server's options (JSON, binary fields in
// base64url) and every sentence it may show, translated by the page. Its button
// asks the browser for a passkey (create or get); the answer, as JSON with
// base64url fields, goes into the form's hidden `credential` field and the form is
// submitted. A cancel or failure is said in the block's status line (announced to
// screen readers) and focus stays on the button, so it works from the keyboard.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBytes(item.id) });
    });
  }

  function creationOptions(options) {
    var user = Object.assign({}, options.user, { id: toBytes(options.user.id) });
    return Object.assign({}, options, {
      challenge: toBytes(options.challenge),
      user: user,
      excludeCredentials: withIds(options.excludeCredentials),
    });
  }

  function requestOptions(options) {
    return Object.assign({}, options, {
      challenge: toBytes(options.challenge),
      allowCredentials: withIds(options.allowCredentials),
    });
  }

  function answer(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) json.response.transports = response.getTransports();
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      json.response.userHandle = toText(response.userHandle);
    }
    return JSON.stringify(json);
  }

  function setUp(block) {
    var form = block.closest("form");
    var button = block.querySelector("[data-passkey-start]");
    var status = block.querySelector("[data-passkey-status]");
    var field = form && form.querySelector("input[name=credential]");
    if (!form || !button || !status || !field) return;

    function say(name) {
      status.textContent = block.getAttribute("data-message-" + name) || "";
    }

    if (!window.PublicKeyCredential || !navigator.credentials) {
      button.disabled = true;
      say("unsupported");
      return;
    }

    // Enter in the name field of a form whose only way on is the passkey button.
    form.addEventListener("submit", function (event) {
      if (!field.value && !form.querySelector("button[type=submit]")) {
        event.preventDefault();
        if (!button.disabled) button.click();
      }
    });

    button.addEventListener("click", function () {
      var name = form.querySelector("input[name=name]");
      if (name && !name.value.trim()) {
        say("name");
        name.focus();
        return;
      }
      var options;
      try {
        options = JSON.parse(block.getAttribute("data-passkey-options"));
      } catch (error) {
        say("failed");
        return;
      }
      var creating = block.getAttribute("data-passkey") === "create";
      button.disabled = true;
      say("waiting");
      var asked = creating
        ? navigator.credentials.create({ publicKey: creationOptions(options) })
        : navigator.credentials.get({ publicKey: requestOptions(options) });
      asked.then(function (credential) {
        if (!credential) throw new Error("no credential");
        field.value = answer(credential);
        form.submit();
      }).catch(function (error) {
        button.disabled = false;
        var kind = error && error.name;
        say(kind === "NotAllowedError" || kind === "AbortError" ? "cancelled"
          : kind === "InvalidStateError" ? "known" : "failed");
        button.focus();
      });
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-passkey]"), setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
