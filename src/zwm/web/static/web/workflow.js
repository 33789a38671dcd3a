// The workflow page: task graph (cytoscape + dagre, left to right), the task side panel,
// and copying the export. Everything runs in the browser: no round trip per interaction.
(function () {
  "use strict";


  function panel() { return document.getElementById("side-panel"); }

  // Every task's card is JSON in the page (zwm.web.taskcard): opening one builds the panel
  // here, with textContent only, so nothing from Zuora is ever parsed as HTML.
  var cards = null;

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function openPanel(taskId) {
    if (cards === null) {
      var source = document.getElementById("task-cards");
      cards = source ? JSON.parse(source.textContent) : {};
    }
    var card = cards[taskId];
    if (!card) return false;
    var body = document.getElementById("side-panel-body");
    var title = element("h2", "Task: " + card.title);
    title.id = "side-panel-title";
    var link = element("a", "Open as a page");
    link.href = card.url;
    var facts = element("dl", undefined, "facts");
    card.facts.forEach(function (fact) {
      facts.append(element("dt", fact[0]), element("dd", fact[1]));
    });
    var tags = element("dd");
    card.tags.forEach(function (tag) { tags.append(element("span", tag, "badge"), " "); });
    if (!card.tags.length) tags.append(element("span", "none", "muted"));
    facts.append(element("dt", "Tags"), tags);
    var parts = [title, element("p"), facts];
    parts[1].append(link);
    if (card.description) parts.push(element("h3", "Description"), element("p", card.description));
    parts.push(element("h3", "Parameters"), element("pre", card.parameters, "json task-parameters"));
    parts.push(element("h3", "Assignment"), element("pre", card.assignment, "json"));
    body.replaceChildren.apply(body, parts);
    var aside = panel();
    aside.hidden = false;
    aside.querySelector("[data-close-panel]").focus();
    return true;
  }

  function drawGraph() {
    var container = document.getElementById("task-graph");
    var source = document.getElementById("graph-data");
    if (!container || !source || typeof cytoscape === "undefined") return;
    var data = JSON.parse(source.textContent);
    cytoscape.use(cytoscapeDagre);
    var started = performance.now();
    var cy = cytoscape({
      container: container,
      elements: { nodes: data.nodes, edges: data.edges },
      minZoom: 0.05,
      maxZoom: 3,
      wheelSensitivity: 0.3,
      style: [
        { selector: "node", style: {
          "shape": "data(shape)", "background-color": "data(colour)",
          "label": "data(label)", "color": "#fff", "font-size": 11, "text-valign": "center", "text-halign": "center",
          "text-wrap": "wrap", "text-max-width": 130, "width": 150, "height": 46
        } },
        { selector: "node[kind = 'start']", style: { "width": 80, "height": 34 } },
        { selector: "node:selected", style: { "border-width": 3, "border-color": "#ffca28" } },
        { selector: "edge", style: {
          "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.5,
          "line-color": "#90a4ae", "target-arrow-color": "#90a4ae",
          "label": "data(label)", "font-size": 9, "color": "#78909c",
          "text-background-color": "#fff", "text-background-opacity": 0.8, "text-background-padding": 2
        } }
      ],
      // network-simplex (dagre's default ranker) gives the tidiest ranks but grows fast with
      // the graph; past 120 nodes longest-path keeps a large workflow's layout well under 1 s.
      layout: { name: "preset" }
    });
    var created = performance.now();
    cy.layout({
      name: "dagre", rankDir: "LR", nodeSep: 40, edgeSep: 20, rankSep: 110, fit: true, padding: 20,
      ranker: data.nodes.length > 120 ? "longest-path" : "network-simplex"
    }).run();
    container.dataset.initMs = (created - started).toFixed(1);
    container.dataset.layoutMs = (performance.now() - started).toFixed(1);
    container.dataset.nodes = String(cy.nodes().length);
    container.dataset.edges = String(cy.edges().length);
    cy.on("tap", "node", function (event) {
      var task = event.target.data("task");
      if (task) openPanel(task);
    });
    document.querySelectorAll("[data-graph-fit]").forEach(function (button) {
      button.addEventListener("click", function () { cy.fit(undefined, 20); });
    });
    window.zwmTaskGraph = cy;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-task]");
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && openPanel(link.dataset.task)) {
      event.preventDefault();  // a modified click still opens the task's own page
    }
    if (event.target.closest("[data-close-panel]")) panel().hidden = true;
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var text = document.querySelector(copy.dataset.copy).textContent;
      var status = document.querySelector("[data-copy-status]");
      navigator.clipboard.writeText(text).then(
        function () { status.textContent = "Copied."; },
        function () { status.textContent = "Copy failed: select the text and copy it by hand."; }
      );
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && panel() && !panel().hidden) panel().hidden = true;
  });
  drawGraph();
})();
