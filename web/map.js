// map.js -- the /map page: polls GET /v1/topology, draws the estate with Cytoscape, lights up open problems and
// the nodes that depend on them, and shows a node's services and problems on click.
(function () {
  'use strict';

  const params = new URLSearchParams(location.search);
  const POLL_MS = Math.max(500, Number(params.get('poll')) || 5000);
  const $ = (id) => document.getElementById(id);
  let cy = null;
  let graph = null;
  let selected = null;
  let layoutKey = '';
  let updates = 0;

  // A token given as #token=... is kept for this tab only and taken out of the address bar.
  function takeToken() {
    const m = location.hash.match(/token=([^&]+)/);
    if (m) {
      sessionStorage.setItem('reflex-token', decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname + location.search);
    }
    return sessionStorage.getItem('reflex-token') || '';
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function nodeState(n) {
    if (n.kind === 'external') return 'external';
    if ((n.problems || []).length) return 'problem';
    if ((n.impacted_by || []).length) return 'impacted';
    if (n.stale) return 'stale';
    return 'ok';
  }

  function label(n) {
    return n.kind === 'external' ? (n.label || n.id) : n.id;
  }

  function setStatus(text, error) {
    const s = $('status');
    s.textContent = text;
    s.classList.toggle('error', !!error);
  }

  async function fetchGraph() {
    const headers = { Accept: 'application/json' };
    const token = takeToken();
    if (token) headers.Authorization = 'Bearer ' + token;
    const r = await fetch('/v1/topology', { headers, cache: 'no-store' });
    if (r.status === 401 || r.status === 403) {
      $('token-form').hidden = false;
      throw new Error('the API wants a token');
    }
    if (!r.ok) throw new Error('GET /v1/topology: HTTP ' + r.status);
    return r.json();
  }

  function initCy() {
    cy = cytoscape({
      container: $('graph'),
      wheelSensitivity: 0.3,
      maxZoom: 1.6,
      style: [
        { selector: 'node', style: {
          'label': 'data(label)', 'background-color': '#3b78e7', 'color': '#202124', 'font-size': 12,
          'text-valign': 'bottom', 'text-margin-y': 4, 'width': 34, 'height': 34 } },
        { selector: 'node.problem', style: {
          'background-color': '#d93025', 'border-width': 5, 'border-color': '#f6aea9', 'width': 46, 'height': 46 } },
        { selector: 'node.impacted', style: { 'background-color': '#f29900', 'border-width': 3, 'border-color': '#fde293' } },
        { selector: 'node.stale', style: { 'background-color': '#9aa0a6', 'border-style': 'dashed', 'border-width': 2 } },
        { selector: 'node.external', style: { 'shape': 'round-rectangle', 'background-color': '#80868b', 'width': 26, 'height': 26 } },
        { selector: 'node:selected', style: { 'overlay-color': '#1a73e8', 'overlay-opacity': 0.2, 'overlay-padding': 6 } },
        { selector: 'edge', style: {
          'width': 2, 'line-color': '#bdc1c6', 'target-arrow-color': '#bdc1c6', 'target-arrow-shape': 'triangle',
          'curve-style': 'bezier', 'label': 'data(label)', 'font-size': 10, 'color': '#5f6368',
          'text-background-color': '#f8f9fa', 'text-background-opacity': 1 } },
        { selector: 'edge.in-radius', style: { 'line-color': '#f29900', 'target-arrow-color': '#f29900', 'width': 3 } },
        { selector: 'edge.into-problem', style: { 'line-color': '#d93025', 'target-arrow-color': '#d93025', 'width': 4 } },
        { selector: 'edge.held', style: { 'line-style': 'dashed' } },
      ],
    });
    cy.on('tap', 'node', (e) => select(e.target.id()));
    cy.on('tap', (e) => { if (e.target === cy) select(null); });
  }

  function edgeId(e) {
    return e.from + '->' + e.to + ':' + e.port;
  }

  function elementsOf(g) {
    const state = new Map(g.nodes.map((n) => [n.id, nodeState(n)]));
    const nodes = g.nodes.map((n) => ({ group: 'nodes', data: { id: n.id, label: label(n) }, classes: state.get(n.id) }));
    const edges = g.edges.filter((e) => state.has(e.from) && state.has(e.to)).map((e) => {
      const to = state.get(e.to), from = state.get(e.from);
      const cls = [];
      if (to === 'problem') cls.push('into-problem');
      else if (to === 'impacted' && (from === 'impacted' || from === 'external')) cls.push('in-radius');
      if (e.held) cls.push('held');
      return { group: 'edges', data: { id: edgeId(e), source: e.from, target: e.to, label: ':' + e.port }, classes: cls.join(' ') };
    });
    return nodes.concat(edges);
  }

  // Clients above the services they use: a node's level is the longest chain of clients above it (relaxed at most
  // once per node, so cycles end), and each level is ordered by where its clients sit to keep edges short.
  function layered(cy) {
    const nodes = cy.nodes().toArray();
    const level = new Map(nodes.map((n) => [n.id(), 0]));
    for (let round = 0; round < nodes.length; round++) {
      let moved = false;
      cy.edges().forEach((e) => {
        const want = level.get(e.source().id()) + 1;
        if (e.source().id() !== e.target().id() && want > level.get(e.target().id()) && want < nodes.length) {
          level.set(e.target().id(), want);
          moved = true;
        }
      });
      if (!moved) break;
    }
    const rows = [];
    nodes.sort((a, b) => a.id().localeCompare(b.id()));
    for (const n of nodes) (rows[level.get(n.id())] = rows[level.get(n.id())] || []).push(n);
    const pos = {};
    rows.forEach((row, depth) => {
      const xs = (n) => {
        const up = n.incomers('node').toArray().filter((m) => pos[m.id()]);
        return up.length ? up.reduce((s, m) => s + pos[m.id()].x, 0) / up.length : 0;
      };
      if (depth > 0) row.sort((a, b) => xs(a) - xs(b));
      row.forEach((n, i) => { pos[n.id()] = { x: (i - (row.length - 1) / 2) * 170, y: depth * 150 }; });
    });
    return (n) => pos[n.id()];
  }

  function drawGraph(g) {
    if (!cy) initCy();
    const els = elementsOf(g);
    const want = new Set(els.map((x) => x.data.id));
    cy.batch(() => {
      cy.elements().forEach((x) => { if (!want.has(x.id())) x.remove(); });
      for (const x of els) {
        const have = cy.getElementById(x.data.id);
        if (have.nonempty()) {
          have.data(x.data);
          have.classes(x.classes);
        } else {
          cy.add(x);
        }
      }
    });
    // Lay out again only when the shape changed, so that nodes stay where the eye left them.
    const key = Array.from(want).sort().join('|');
    if (key !== layoutKey) {
      layoutKey = key;
      cy.layout({ name: 'preset', positions: layered(cy), fit: false, animate: false }).run();
      cy.fit(cy.elements(), 40);
    }
  }

  function renderProblems(g) {
    const list = $('problems');
    const items = [];
    for (const n of g.nodes) {
      for (const p of n.problems || []) items.push({ n, p });
    }
    for (const p of (g.problems && g.problems.unmapped) || []) items.push({ n: null, p });
    $('problem-count').textContent = String(items.length);
    list.replaceChildren(...items.map(({ n, p }) => {
      const li = el('li', null, 'problem');
      li.dataset.node = n ? n.id : '';
      li.dataset.problem = p.id;
      li.append(el('div', p.title || p.event_type || p.source_id, 'title'));
      li.append(el('div', [p.severity, p.source, n ? 'on ' + n.id : 'not on the map (' + p.entity + ')'].filter(Boolean).join(' · '), 'meta'));
      if (n) {
        const deps = n.dependents || [];
        const radius = deps.length ? 'impacts ' + deps.join(', ') : 'nothing depends on it';
        li.append(el('div', radius + (n.external_clients ? ' and outside clients' : ''), 'radius'));
        li.addEventListener('click', () => select(n.id));
      }
      if (n && n.id === selected) li.classList.add('selected');
      return li;
    }));
  }

  function renderNodes(g) {
    $('node-count').textContent = String(g.nodes.length);
    $('nodes').replaceChildren(...g.nodes.map((n) => {
      const st = nodeState(n);
      const li = el('li', label(n), 'node-item ' + st);
      li.dataset.node = n.id;
      li.dataset.state = st;
      if (n.id === selected) li.classList.add('selected');
      li.addEventListener('click', () => select(n.id));
      return li;
    }));
  }

  function fact(dl, name, value) {
    dl.append(el('dt', name), el('dd', value));
  }

  function renderDetails() {
    const box = $('details');
    const n = graph && selected ? graph.nodes.find((x) => x.id === selected) : null;
    box.hidden = !n;
    if (!n) return;
    $('details-title').textContent = label(n);
    const dl = $('details-facts');
    dl.replaceChildren();
    fact(dl, 'kind', n.kind === 'external' ? 'outside host' : 'agent');
    fact(dl, 'addresses', (n.addresses || []).join(', ') || '—');
    if (n.kind !== 'external') {
      fact(dl, 'last report', n.last_report + (n.stale ? ' (silent)' : ''));
      if (n.dependents) fact(dl, 'dependents', n.dependents.join(', ') || 'none');
      if ((n.impacted_by || []).length) fact(dl, 'depends on a problem at', n.impacted_by.join(', '));
    }
    const incoming = graph.edges.filter((e) => e.to === n.id).map((e) => e.from + ' → :' + e.port);
    const outgoing = graph.edges.filter((e) => e.from === n.id).map((e) => ':' + e.port + ' on ' + e.to);
    if (incoming.length) fact(dl, 'clients', incoming.join(', '));
    if (outgoing.length) fact(dl, 'uses', outgoing.join(', '));
    $('details-services').tBodies[0].replaceChildren(...(n.services || []).map((s) => {
      const tr = el('tr');
      tr.append(el('td', s.port), el('td', s.process || '?'), el('td', (s.problems || []).length ? 'problem' : '', 'flag'));
      return tr;
    }));
    $('details-problems').replaceChildren(...(n.problems || []).map((p) =>
      el('li', (p.severity ? '[' + p.severity + '] ' : '') + (p.title || p.event_type) + (p.port ? ' (port ' + p.port + ')' : ''))));
    if ((n.problems || []).length === 0) $('details-problems').append(el('li', 'none'));
  }

  function select(id) {
    selected = id;
    if (cy) {
      cy.$(':selected').unselect();
      if (id) cy.getElementById(id).select();
    }
    if (graph) {
      renderNodes(graph);
      renderProblems(graph);
    }
    renderDetails();
  }

  function render(g) {
    graph = g;
    if (selected && !g.nodes.some((n) => n.id === selected)) selected = null;
    drawGraph(g);
    renderProblems(g);
    renderNodes(g);
    renderDetails();
    updates++;
    document.body.dataset.updates = String(updates);
    const open = g.problems ? g.problems.open : 0;
    setStatus(g.nodes.length + ' nodes · ' + g.edges.length + ' edges · ' + open + ' open problems · updated ' +
      new Date(g.generated_at).toLocaleTimeString());
  }

  async function poll() {
    try {
      render(await fetchGraph());
    } catch (err) {
      setStatus(err.message, true);
    }
    setTimeout(poll, POLL_MS);
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem('reflex-token', $('token-input').value.trim());
    $('token-form').hidden = true;
    fetchGraph().then(render, (err) => setStatus(err.message, true));
  });

  // For operators' consoles and the browser test: the graph instance and the last graph drawn.
  window.reflexMap = { get cy() { return cy; }, get graph() { return graph; } };

  if (typeof cytoscape === 'undefined') {
    setStatus('the graph library did not load: run `make` (npm ci in web/) on the classifier host', true);
    return;
  }
  poll();
})();
