// microgrid's backprop explorer: steps through a walkthrough drawn by Graphviz.
// Plain JavaScript, no library, no network. Python writes one call per explorer:
//   microgridExplorer(host, data, svg, css)
// host: the element holding the static fallback (replaced here); data: the steps,
// what each record shows and each node's details; svg: the drawing; css: the style.
function microgridExplorer(host, data, svg, css) {
  "use strict";
  const make = (tag, cls, text) => {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined) el.textContent = text;
    return el;
  };
  const root = make("div", "mg-explorer");
  root.tabIndex = 0;
  root.setAttribute("role", "application");
  root.setAttribute("aria-label", "backpropagation explorer: arrow keys step, space plays");
  const style = make("style");
  style.textContent = css;
  const bar = make("div", "mg-bar");
  const button = (label, title, action) => {
    const b = make("button", "mg-button", label);
    b.type = "button";
    b.title = title;
    b.addEventListener("click", () => { action(); root.focus(); });
    bar.appendChild(b);
    return b;
  };
  const last = data.steps.length - 1;
  let step = 0;
  let timer = null;
  let pinned = null;
  button("|\u25c0", "first step (Home)", () => go(0));
  button("\u25c0", "step back (left arrow)", () => go(step - 1));
  const play = button("\u25b6 play", "play / pause (space)", () => toggle());
  play.classList.add("mg-play");
  button("\u25b6", "step forward (right arrow)", () => go(step + 1));
  button("\u25b6|", "last step (End)", () => go(last));
  const slider = make("input", "mg-slider");
  slider.type = "range";
  slider.min = "0";
  slider.max = String(last);
  slider.value = "0";
  slider.setAttribute("aria-label", "step");
  slider.addEventListener("input", () => go(Number(slider.value)));
  bar.appendChild(slider);
  const counter = make("span", "mg-counter");
  bar.appendChild(counter);
  const caption = make("div", "mg-caption");
  caption.setAttribute("aria-live", "polite");
  const main = make("div", "mg-main");
  const graph = make("div", "mg-graph");
  graph.innerHTML = svg;
  const details = make("div", "mg-details");
  const legend = make("div", "mg-legend");
  legend.innerHTML =
    data.roles.map((r) => '<span class="mg-key mg-role" style="background:' + r[1] + '">' + r[0] + "</span>").join("") +
    '<span class="mg-key mg-key-current">being processed</span>' +
    '<span class="mg-key mg-pending">grad ? pending</span>' +
    '<span class="mg-key mg-partial">grad 0.5 + ? partly summed</span>' +
    '<span class="mg-key mg-final">grad final</span>' +
    '<span class="mg-key mg-new">just made final</span>';
  main.appendChild(graph);
  main.appendChild(details);
  root.append(style, bar, caption, main, legend);

  // The drawing's nodes and edges by their DOT ids (Graphviz writes them as <title>).
  const nodes = {};
  const edges = {};
  graph.querySelectorAll("g.node, g.edge").forEach((g) => {
    const title = g.querySelector("title");
    if (!title) return;
    (g.classList.contains("node") ? nodes : edges)[title.textContent] = g;
  });
  // A record's last two texts are its data and grad fields (its name may take several lines).
  const fields = {};
  Object.keys(data.initial).forEach((rid) => {
    const g = nodes[rid];
    if (!g || !data.initial[rid][0]) return;
    const texts = g.querySelectorAll("text");
    fields[rid] = data.grads ? [texts[texts.length - 2], texts[texts.length - 1]] : [texts[texts.length - 1], null];
  });

  function stateAt(k) {
    const state = Object.assign({}, data.initial);
    for (let i = 0; i <= k; i++) Object.assign(state, data.steps[i].changes);
    return state;
  }

  function render() {
    const s = data.steps[step];
    const state = stateAt(step);
    Object.keys(fields).forEach((rid) => {
      const [dataText, gradText] = fields[rid];
      const shown = state[rid];
      dataText.textContent = shown[0];
      dataText.classList.toggle("mg-unknown", shown[0] === "data ?");
      if (gradText) {
        gradText.textContent = shown[1];
        gradText.classList.remove("mg-pending", "mg-partial", "mg-final", "mg-new");
        gradText.classList.add("mg-" + shown[2]);
        if (s.finals.indexOf(rid) >= 0) gradText.classList.add("mg-new");
      }
    });
    Object.values(nodes).forEach((g) => g.classList.remove("mg-current"));
    Object.values(edges).forEach((g) => g.classList.remove("mg-current"));
    s.current.forEach((id) => nodes[id] && nodes[id].classList.add("mg-current"));
    s.edges.forEach((id) => edges[id] && edges[id].classList.add("mg-current"));
    caption.textContent = "";
    s.caption.split("\n").forEach((line, i) => caption.appendChild(make("div", i ? "mg-line" : "mg-head", line)));
    counter.textContent = "step " + (step + 1) + " of " + (last + 1) + (s.phase === "forward" ? ", forward pass" : ", backward pass");
    slider.value = String(step);
    root.dataset.step = String(step);
    showDetails(pinned);
  }

  function go(k) {
    step = Math.max(0, Math.min(last, k));
    if (step === last) stop();
    render();
  }

  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    play.textContent = "\u25b6 play";
  }

  function toggle() {
    if (timer !== null) return stop();
    if (step === last) step = -1;
    play.textContent = "\u23f8 pause";
    go(step + 1);
    if (step < last) timer = setInterval(() => go(step + 1), data.seconds * 1000);
  }

  function row(table, name, value) {
    const tr = make("tr");
    tr.append(make("th", "", name), make("td", "", value));
    table.appendChild(tr);
  }

  function showDetails(rid) {
    details.textContent = "";
    const info = rid === null ? null : data.details[data.refs[rid] || rid];
    if (!info) {
      details.appendChild(make("p", "mg-hint", "Hover over or click a node for its data, gradient, operation and local derivatives."));
      return;
    }
    const own = data.refs[rid] || rid;
    details.appendChild(make("div", "mg-title", info.name));
    const table = make("table", "mg-table");
    if (info.parameter) row(table, "parameter", info.parameter);
    row(table, "role", info.role);
    if (info.formula) row(table, "operation", info.name + " = " + info.formula + "   (" + info.op + ")");
    row(table, "data", info.data);
    const shown = stateAt(step)[own];
    const status = shown ? shown[2] : "final";
    row(table, "gradient", status === "final" ? info.grad + "  (final)" : status === "partial" ? shown[1].slice(5) + "  (partly summed)" : "pending: not all its uses are processed yet");
    if (info.operands && info.operands.length) {
      const locals = info.operands.map((o) => "d " + info.name + "/d " + o[0] + " = " + o[1]).join("\n");
      row(table, "local derivatives", locals);
    }
    if (info.uses !== undefined) row(table, "used by", info.uses === 0 ? "nothing (the output)" : info.uses + (info.uses === 1 ? " operation" : " operations"));
    if (info.outputs) row(table, "outputs", info.outputs.join("\n"));
    if (info.parameters !== undefined) row(table, "parameters", String(info.parameters));
    details.appendChild(table);
  }

  Object.keys(nodes).forEach((id) => {
    if (!data.details[data.refs[id] || id]) return;
    const g = nodes[id];
    g.classList.add("mg-clickable");
    g.addEventListener("mouseenter", () => showDetails(id));
    g.addEventListener("mouseleave", () => showDetails(pinned));
    g.addEventListener("click", () => { pinned = pinned === id ? null : id; showDetails(pinned); root.focus(); });
  });

  root.addEventListener("keydown", (event) => {
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (event.key in moves) go(step + moves[event.key]);
    else if (event.key === "Home") go(0);
    else if (event.key === "End") go(last);
    else if (event.key === " ") toggle();
    else return;
    event.preventDefault();
  });

  host.textContent = "";
  host.appendChild(root);
  // Fit the drawing to the width unless that makes its text too small; a button toggles.
  const drawing = graph.querySelector("svg");
  if (drawing) {
    const width = drawing.getAttribute("width");
    const height = drawing.getAttribute("height");
    const natural = parseFloat(width) * 4 / 3; // pt to px
    const fit = (on) => {
      if (on) { drawing.setAttribute("width", String(graph.clientWidth)); drawing.removeAttribute("height"); }
      else { drawing.setAttribute("width", width); drawing.setAttribute("height", height); }
      zoom.textContent = on ? "100%" : "fit";
      zoom.title = on ? "show the drawing at full size" : "fit the drawing to the width";
      fitted = on;
    };
    let fitted = false;
    const zoom = button("fit", "", () => fit(!fitted));
    if (natural > graph.clientWidth) fit(graph.clientWidth / natural >= 0.5);
    else zoom.remove();
  }
  render();
  return root;
}
