/*
 * Gatehouse — progressive enhancement only. Every page works without this file.
 * Plain ES2017, loaded with `defer`; no inline handlers (CSP default-src 'self').
 */
(function () {
  'use strict';

  var POLL_INTERVAL_MS = 2000;
  var POLL_LIMIT_MS = 10 * 60 * 1000;
  var COPIED_MS = 1500;

  // Copy button: <button class="copy-btn" data-copy-target="input-id" data-copied-label="Copied">.
  function fallbackCopy(input) {
    var wasReadOnly = input.readOnly;
    input.readOnly = false; // iOS refuses to select read-only text
    input.focus();
    input.select();
    if (input.setSelectionRange) input.setSelectionRange(0, input.value.length);
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    input.readOnly = wasReadOnly;
    return ok;
  }

  function copyValue(input) {
    var text = input.value;
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(
        function () { return true; },
        function () { return fallbackCopy(input); }
      );
    }
    return Promise.resolve(fallbackCopy(input));
  }

  function initCopyButtons(root) {
    root.querySelectorAll('button.copy-btn[data-copy-target]').forEach(function (btn) {
      if (btn.type !== 'button' && !btn.hasAttribute('type')) btn.type = 'button';
      btn.addEventListener('click', function (ev) {
        ev.preventDefault();
        var input = document.getElementById(btn.dataset.copyTarget);
        if (!input) return;
        copyValue(input).then(function (ok) {
          if (!ok) { input.focus(); input.select(); return; } // let the user copy by hand
          if (btn._copiedTimer) clearTimeout(btn._copiedTimer);
          if (btn._label === undefined) btn._label = btn.textContent;
          if (btn.dataset.copiedLabel) btn.textContent = btn.dataset.copiedLabel;
          btn.classList.add('copied');
          btn._copiedTimer = setTimeout(function () {
            btn.classList.remove('copied');
            btn.textContent = btn._label;
            btn._copiedTimer = null;
          }, COPIED_MS);
        });
      });
    });
  }

  // Confirmation: <form data-confirm="Really?">. Declining cancels the submission.
  function initConfirm() {
    document.addEventListener('submit', function (ev) {
      var form = ev.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-confirm')) return;
      if (!window.confirm(form.dataset.confirm)) {
        ev.preventDefault();
        ev.stopImmediatePropagation();
      }
    }, true);
  }

  // Language switch: submit as soon as another language is picked.
  function initLangSelect(root) {
    root.querySelectorAll('select.lang-select').forEach(function (sel) {
      sel.addEventListener('change', function () {
        var form = sel.form;
        if (!form) return;
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
      });
    });
  }

  // Flash close buttons (optional markup): <button class="flash-close">×</button>.
  function initFlashClose(root) {
    root.querySelectorAll('.flash .flash-close').forEach(function (btn) {
      btn.addEventListener('click', function (ev) {
        var flash = btn.closest('.flash');
        if (!flash) return;
        ev.preventDefault();
        flash.remove();
      });
    });
  }

  // Polling: <div data-poll-url="/x/status" data-poll-submit="form-id" data-poll-until="unix-seconds">.
  // Every 2 s ask the URL; when it answers {"done":true} or {"ended":true}, submit the named form (the
  // server says what happened). At data-poll-until (else after 10 minutes) stop; with data-poll-until,
  // submit the form then too, so the page shows that the code expired.
  function initPolling(root) {
    root.querySelectorAll('[data-poll-url]').forEach(function (el) {
      var url = el.dataset.pollUrl;
      var formId = el.dataset.pollSubmit;
      var started = Date.now();
      var until = parseInt(el.dataset.pollUntil || '', 10) * 1000;
      var timer = null;
      var busy = false;
      var finished = false;

      function stop() {
        finished = true;
        if (timer) clearInterval(timer);
        timer = null;
      }

      function submit() {
        var form = formId ? document.getElementById(formId) : null;
        if (form && typeof form.submit === 'function') form.submit();
      }

      function tick() {
        if (finished || busy) return;
        if (until > 0 && Date.now() >= until) { stop(); submit(); return; }
        if (Date.now() - started > POLL_LIMIT_MS) { stop(); el.classList.add('poll-expired'); return; }
        busy = true;
        fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' }, cache: 'no-store' })
          .then(function (res) { return res.ok ? res.json() : null; })
          .then(function (data) {
            if (finished || !data || (data.done !== true && data.ended !== true)) return;
            stop();
            submit();
          })
          .catch(function () { /* transient network error: try again next tick */ })
          .then(function () { busy = false; });
      }

      if (!url) return;
      timer = setInterval(tick, POLL_INTERVAL_MS);
    });
  }

  function init() {
    document.documentElement.classList.add('js');
    initCopyButtons(document);
    initConfirm();
    initLangSelect(document);
    initFlashClose(document);
    initPolling(document);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
