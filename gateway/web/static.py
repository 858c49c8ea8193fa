"""The status page's own stylesheet and script (nothing is fetched from elsewhere)."""

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.5em 0 .4em; }
p.sub { color: #666; margin: 0 0 1em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #ddd;
         vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.state-idle, .state-completed { color: #176f2c; }
.state-processing, .state-pending { color: #0b5394; }
.state-stopped, .state-aborted, .state-canceled, .state-processing-stopped { color: #a61c00; }
.muted { color: #777; }
.alert { background: #fce8e6; color: #a61c00; padding: .5em .8em; }
form.filter { margin: 0 0 .5em; }
p.pager { margin: 0 0 .3em; }
p.pager a, p.pager span.muted { margin: 0 .2em; }
footer { margin-top: 2em; color: #888; font-size: .9em; }
"""

SCRIPT = """
'use strict';
// Refreshes the tables from /status.json every few seconds (the index: the page
// shown, data-source carries its ?q= and ?page=). Values are set with
// textContent only, so text from clients (job names, users) is never parsed as HTML.
(function () {
  var body = document.body;
  var source = body.getAttribute('data-source');
  function cell(row, text, cls, href) {
    var td = document.createElement('td');
    if (href) {
      var a = document.createElement('a');
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text;
    }
    if (cls) { td.className = cls; }
    row.appendChild(td);
  }
  function fill(tbodyId, rows, columns) {
    var tbody = document.getElementById(tbodyId);
    if (!tbody) { return; }
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    rows.forEach(function (item) {
      var tr = document.createElement('tr');
      columns.forEach(function (c) {
        var cls = c.cls ? c.cls(item) : '';
        cell(tr, c.get(item), cls, c.href ? c.href(item) : '');
      });
      tbody.appendChild(tr);
    });
    if (rows.length === 0) {
      var tr = document.createElement('tr');
      var td = document.createElement('td');
      td.colSpan = columns.length;
      td.className = 'muted';
      td.textContent = 'none';
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
  }
  var queueColumns = [
    {get: function (q) { return q.name; },
     href: function (q) { return '/printers/' + encodeURIComponent(q.name); }},
    {get: function (q) { return q.backend; }},
    {get: function (q) { return q.state; }, cls: function (q) { return 'state-' + q.state; }},
    {get: function (q) { return q.reasons.join(', '); }},
    {get: function (q) { return q.accepting ? 'yes' : 'no'; }},
    {get: function (q) { return String(q.jobs); }, cls: function () { return 'num'; }}
  ];
  var jobColumns = [
    {get: function (j) { return String(j.id); }, cls: function () { return 'num'; }},
    {get: function (j) { return j.queue; }},
    {get: function (j) { return j.owner; }},
    {get: function (j) { return j.name; }},
    {get: function (j) { return j.origin; }},
    {get: function (j) { return j.size === null ? '' : String(j.size); },
     cls: function () { return 'num'; }},
    {get: function (j) { return j.pages === null ? '' : String(j.pages); },
     cls: function () { return 'num'; }},
    {get: function (j) { return j.state; }, cls: function (j) { return 'state-' + j.state; }},
    {get: function (j) { return j.created; }},
    {get: function (j) { return j.completed; }},
    {get: function (j) { return j.backend_job; }},
    {get: function (j) { return j.message; }}
  ];
  function refresh() {
    fetch(source, {cache: 'no-store'}).then(function (r) { return r.json(); })
      .then(function (data) {
        fill('queues', data.queues, queueColumns);
        fill('jobs', data.jobs, jobColumns);
        var stamp = document.getElementById('updated');
        if (stamp) { stamp.textContent = data.time; }
        var problem = document.getElementById('problem');
        if (problem) {
          problem.hidden = !data.spool_problem;
          problem.textContent = data.spool_problem ?
            'The spool cannot commit: ' + data.spool_problem +
            '. New jobs are refused until it can.' : '';
        }
        var shown = document.getElementById('shown');
        if (shown && data.page) {
          var p = data.page;
          var last = Math.min(p.first + p.per_page - 1, p.matched);
          var text = p.matched ? p.first + '-' + last + ' of ' + p.matched : 'none';
          if (p.q) { text += ' matching \u201c' + p.q + '\u201d (' + p.total + ' in all)'; }
          shown.textContent = text;
        }
      }).catch(function () {});
  }
  setInterval(refresh, 3000);
})();
"""
