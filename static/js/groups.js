/*
 * Gatehouse — the group form's pickers (progressive enhancement; loaded only on that page).
 * "Add" puts a department's or tag's rule line into the rules textarea, once; the filter box narrows
 * the lists. Without this file the lists still show each rule to type. No inline script (CSP).
 */
(function () {
  'use strict';

  function hasLine(text, rule) {
    return text.split(/\r?\n/).some(function (l) { return l.trim() === rule; });
  }

  function addRule(textarea, rule) {
    if (hasLine(textarea.value, rule)) return false;
    var v = textarea.value;
    if (v !== '' && !/\n$/.test(v)) v += '\n';
    textarea.value = v + rule + '\n';
    textarea.dispatchEvent(new Event('input', { bubbles: true }));
    return true;
  }

  function markAdded(btn) {
    if (btn.dataset.addedLabel) btn.textContent = btn.dataset.addedLabel;
    btn.classList.add('added');
    btn.disabled = true;
  }

  function init() {
    var textarea = document.getElementById('f-rules');
    if (!textarea) return;
    var buttons = document.querySelectorAll('button.group-pick[data-rule]');
    function refresh() {
      buttons.forEach(function (btn) {
        if (hasLine(textarea.value, btn.dataset.rule)) markAdded(btn);
      });
    }
    buttons.forEach(function (btn) {
      btn.addEventListener('click', function (ev) {
        ev.preventDefault();
        addRule(textarea, btn.dataset.rule);
        markAdded(btn);
      });
    });
    refresh();

    var filter = document.querySelector('input.group-filter');
    if (filter) {
      filter.addEventListener('input', function () {
        var q = filter.value.trim().toLowerCase();
        document.querySelectorAll('.picker-list li[data-search]').forEach(function (li) {
          li.hidden = q !== '' && li.dataset.search.toLowerCase().indexOf(q) < 0;
        });
      });
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
