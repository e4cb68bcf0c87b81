// twixt explain: steps through the boundaries embedded as JSON in #twixt-data, drawing the
// stack diagram (SVG), marking the disassembly and showing the explanation. No network, no
// libraries. The URL fragment picks the start (#step=N, #pc=0x...) and may replay keys
// (#keys=RightRightLeft, or j/k) as real KeyboardEvents and press buttons (#clicks=next,prev),
// for headless browser tests.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("twixt-data").textContent);
  var rows = data.rows;
  var steps = data.shown.length ? data.shown : rows.map(function (r) { return r.index; });
  var cur = 0;
  var SVGNS = "http://www.w3.org/2000/svg";

  function hex(n) {
    return (n < 0 ? "-" : "") + "0x" + Math.abs(n).toString(16);
  }
  function callerRel(d) {
    return d === 0 ? "caller SP" : "caller" + (d < 0 ? "-" : "+") + "0x" + Math.abs(d).toString(16);
  }
  function el(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function verdictText(w) {
    return w.severity ? w.verdict + " (" + w.severity + ")" : w.verdict;
  }

  // The disassembly, built once.
  var list = document.getElementById("disasm");
  rows.forEach(function (r) {
    var li = document.createElement("li");
    li.id = "b-" + r.index;
    li.dataset.index = r.index;
    li.dataset.pc = r.pc;
    if (r.window) { li.classList.add("window"); if (r.severity) { li.classList.add(r.severity); } }
    if (steps.indexOf(r.index) < 0) { li.classList.add("context"); }
    var sp = r.sp_rel === 0 ? "caller" : callerRel(r.sp_rel);
    li.innerHTML = "";
    [["pc", r.pc], ["off", "+0x" + r.offset.toString(16)], ["insn", r.instruction],
     ["sp", sp], ["pcsp", r.pcsp === null ? "-" : hex(r.pcsp)],
     ["mark", r.window ? "\u26a0" : ""]].forEach(function (c) {
      var s = document.createElement("span");
      s.className = c[0];
      s.textContent = c[1];
      li.appendChild(s);
    });
    li.addEventListener("click", function () {
      var k = steps.indexOf(r.index);
      if (k < 0) { steps = steps.concat([r.index]).sort(function (a, b) { return a - b; }); k = steps.indexOf(r.index); }
      show(k);
    });
    list.appendChild(li);
  });

  function diagram(r) {
    var svg = document.getElementById("stack");
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var frame = data.frame;
    // Every address that matters, relative to the caller's SP; 8-byte slots contribute
    // both their bottom and top.
    var slots = [];
    function slot(addr, kind, label) {
      if (addr === null || addr === undefined) { return; }
      slots.push({ addr: addr, kind: kind, label: label });
    }
    if (r.true_slot_rel !== null) {
      slot(r.true_slot_rel, "slot-lr", "saved LR = true return PC " + r.true_return_pc);
      slot(r.true_slot_rel - 8, "slot-fp", "saved R29 (caller's frame pointer)");
    }
    if (r.go.slot_rel !== null) {
      slot(r.go.slot_rel, "slot-read", "Go unwinder reads " + r.go.read + " (" + r.go.read_symbol + ")");
    }
    if (r.fp.slot_rel !== null && r.fp.slot_rel !== r.go.slot_rel) {
      slot(r.fp.slot_rel, "slot-fpread", "frame-pointer walk reads " + r.fp.read);
    }
    var keys = [0, -frame, r.sp_rel, 16];
    slots.forEach(function (s) { keys.push(s.addr, s.addr + 8); });
    var marks = [{ addr: 0, label: "true caller SP", cls: "mark-csp" },
                 { addr: r.sp_rel, label: "SP", cls: "mark-sp" }];
    if (r.go.computed_caller_sp_rel !== null && r.go.computed_caller_sp_rel !== 0) {
      marks.push({ addr: r.go.computed_caller_sp_rel, label: "SP+pcsp", cls: "mark-computed" });
    }
    if (r.r29_rel !== null && r.r29.what !== "caller's R29") {
      marks.push({ addr: r.r29_rel, label: r.r29.valid ? "R29" : "R29 (invalid)", cls: r.r29.valid ? "mark-r29" : "mark-r29 bad" });
    }
    if (frame > 0 && -frame !== r.sp_rel) {
      marks.push({ addr: -frame, label: "full frame", cls: "mark-frame" });
    }
    marks.forEach(function (m) { keys.push(m.addr); });
    var highest = Math.max.apply(null, keys);
    var lowest = Math.min.apply(null, keys);
    keys.push(lowest - 16);
    keys = keys.filter(function (v, i, a) { return a.indexOf(v) === i; }).sort(function (a, b) { return b - a; });
    // y of each key: 22px per 8 bytes for small steps, a fixed break for big ones.
    var ys = {}, breaks = [], y = 12;
    keys.forEach(function (k, i) {
      if (i > 0) {
        var d = keys[i - 1] - k;
        if (d <= 32) { y += d / 8 * 22; } else { breaks.push({ y: y + 21, bytes: d }); y += 42; }
      }
      ys[k] = y;
    });
    var height = Math.max(y + 24, 300);
    var X0 = 270, X1 = 490;
    // Width 100% and no height: the browser keeps the aspect ratio, so the drawing fills the
    // pane from the top.
    svg.setAttribute("viewBox", "0 0 850 " + height);
    // Caller's frame, this frame (live), free stack below SP.
    svg.appendChild(el("rect", { x: X0, y: ys[highest], width: X1 - X0, height: ys[0] - ys[highest], "class": "caller-frame" }));
    svg.appendChild(el("text", { x: X0 + 6, y: ys[highest] + 14, "class": "region-label" }, "caller's frame"));
    if (r.sp_rel < 0) {
      svg.appendChild(el("rect", { x: X0, y: ys[0], width: X1 - X0, height: ys[r.sp_rel] - ys[0], "class": "live-frame", id: "live-frame" }));
      svg.appendChild(el("text", { x: X0 + 6, y: ys[0] + 14, "class": "region-label" }, "this frame: " + hex(-r.sp_rel) + " bytes"));
    }
    svg.appendChild(el("rect", { x: X0, y: ys[r.sp_rel], width: X1 - X0, height: height - 6 - ys[r.sp_rel], "class": "free-stack" }));
    svg.appendChild(el("text", { x: X0 + 6, y: height - 12, "class": "region-label" }, "free stack (below SP)"));
    if (frame > 0 && -frame !== r.sp_rel) {
      svg.appendChild(el("line", { x1: X0, x2: X1, y1: ys[-frame], y2: ys[-frame], "class": "frame-bottom" }));
    }
    var labels = [];
    breaks.forEach(function (b) {
      svg.appendChild(el("rect", { x: X0 - 4, y: b.y - 5, width: X1 - X0 + 8, height: 10, "class": "gap" }));
      labels.push({ y: b.y + 4, text: "\u22ee " + hex(b.bytes) + " bytes not drawn", cls: "gap-label" });
    });
    // Slots, the read slot on top.
    slots.sort(function (a, b) { return (a.kind === "slot-read") - (b.kind === "slot-read"); });
    slots.forEach(function (s) {
      var top = ys[s.addr + 8], bot = ys[s.addr];
      var cls = "slot " + s.kind;
      if (s.kind === "slot-read") { cls += r.go.verdict === "ok" ? " good" : " bad"; }
      var rect = el("rect", { x: X0 + 40, y: top + 1, width: X1 - X0 - 80, height: bot - top - 2, "class": cls });
      rect.setAttribute("data-slot", r.go.slot_sp !== null && s.kind === "slot-read" ? r.go.slot_sp : callerRel(s.addr));
      if (s.kind === "slot-read") {
        rect.setAttribute("data-read", r.go.read);
        rect.id = "slot-read";
      }
      svg.appendChild(rect);
      labels.push({ y: (top + bot) / 2 + 4, text: s.label, cls: "slot-label " + s.kind });
    });
    // Labels beside the column, pushed apart so that none overlap.
    labels.sort(function (a, b) { return a.y - b.y; });
    var last = -Infinity;
    labels.forEach(function (l) {
      var yy = Math.max(l.y, last + 15);
      last = yy;
      svg.appendChild(el("text", { x: X1 + 10, y: yy, "class": l.cls }, l.text));
    });
    // The left axis: every key's address, with the markers at that address named and
    // pointed at.
    keys.forEach(function (k) {
      var here = marks.filter(function (m) { return m.addr === k; });
      if (k === keys[keys.length - 1] || (k === 16 && !here.length)) { return; }
      var g = el("g", { "class": here.length ? "marker " + here.map(function (m) { return m.cls; }).join(" ") : "axis", "data-rel": String(k) });
      var label = k === 0 ? "caller" : callerRel(k);
      if (here.length) { label = here.map(function (m) { return m.label; }).join(", ") + " \u2192 " + label; }
      g.appendChild(el("text", { x: X0 - 26, y: ys[k] + 4, "text-anchor": "end" }, label));
      if (here.length) {
        g.appendChild(el("line", { x1: X0 - 22, x2: X0 + 30, y1: ys[k], y2: ys[k] }));
        g.appendChild(el("polygon", { points: (X0 + 30) + "," + ys[k] + " " + (X0 + 22) + "," + (ys[k] - 5) + " " + (X0 + 22) + "," + (ys[k] + 5) }));
      } else {
        g.appendChild(el("line", { x1: X0 - 6, x2: X0, y1: ys[k], y2: ys[k] }));
      }
      svg.appendChild(g);
    });
  }

  function setText(id, t) { document.getElementById(id).textContent = t; }

  function show(k) {
    cur = Math.max(0, Math.min(steps.length - 1, k));
    var r = rows[steps[cur]];
    document.body.dataset.step = String(cur);
    document.body.dataset.pc = r.pc;
    setText("position", "boundary " + (cur + 1) + " of " + steps.length + (steps.length < rows.length ? " shown (" + rows.length + " in all)" : ""));
    setText("current-insn", r.pc + " +0x" + r.offset.toString(16) + "  " + r.instruction);
    var v = document.getElementById("verdict");
    v.textContent = verdictText(r.go);
    v.dataset.verdict = r.go.verdict;
    v.className = r.go.verdict === "ok" ? "ok" : "bad " + r.go.severity;
    var f = document.getElementById("fp-verdict");
    f.textContent = verdictText(r.fp);
    f.dataset.verdict = r.fp.verdict;
    f.className = r.fp.verdict === "ok" ? "ok" : "bad " + r.fp.severity;
    setText("fact-sp", callerRel(r.sp_rel));
    setText("fact-pcsp", r.pcsp === null ? "-" : hex(r.pcsp));
    setText("fact-r29", (r.r29.valid ? "valid: " : "not valid: ") + r.r29.what);
    setText("fact-go-reads", r.go.slot_sp === null ? "LR = " + r.go.read + " (" + r.go.read_symbol + ")" : r.go.slot_sp + " = " + r.go.read + " (" + r.go.read_symbol + ")");
    setText("fact-true", r.true_return_pc + (r.true_slot_sp ? " at " + r.true_slot_sp : " (in LR)"));
    setText("fact-computed", r.go.computed_caller_sp_rel === null ? "-" : callerRel(r.go.computed_caller_sp_rel) + (r.go.computed_caller_sp_rel === 0 ? " (right)" : " (wrong)"));
    setText("fact-async", r.preemptible ? "yes (UnsafePoint " + r.unsafe_point + ")" : "no (UnsafePoint " + r.unsafe_point + ")");
    var ex = document.getElementById("explanation");
    ex.innerHTML = "";
    r.explanation.forEach(function (p) {
      var e = document.createElement("p");
      e.textContent = p;
      ex.appendChild(e);
    });
    var old = list.querySelector("li.current");
    if (old) { old.classList.remove("current"); }
    var li = document.getElementById("b-" + r.index);
    li.classList.add("current");
    // Scroll the disassembly pane only (scrollIntoView would scroll the page too).
    var pane = document.getElementById("disasm-pane");
    var rel = li.offsetTop; // the pane is the offsetParent (position: relative)
    if (rel < pane.scrollTop + 40 || rel > pane.scrollTop + pane.clientHeight - 40) {
      pane.scrollTop = Math.max(0, rel - pane.clientHeight / 2);
    }
    document.getElementById("prev").disabled = cur === 0;
    document.getElementById("next").disabled = cur === steps.length - 1;
    diagram(r);
    if (history.replaceState) {
      try { history.replaceState(null, "", "#pc=" + r.pc); } catch (e) { /* file: URLs may refuse */ }
    }
  }

  document.getElementById("prev").addEventListener("click", function () { show(cur - 1); });
  document.getElementById("next").addEventListener("click", function () { show(cur + 1); });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (e.key === "ArrowRight" || e.key === "j") { show(cur + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft" || e.key === "k") { show(cur - 1); e.preventDefault(); }
    else if (e.key === "Home") { show(0); e.preventDefault(); }
    else if (e.key === "End") { show(steps.length - 1); e.preventDefault(); }
  });

  // The start: the fragment, else the boundary the renderer chose.
  var start = data.start === null ? 0 : Math.max(0, steps.indexOf(data.start));
  var params = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
    var i = kv.indexOf("=");
    if (i > 0) { params[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1)); }
  });
  if (params.step !== undefined && /^\d+$/.test(params.step)) { start = parseInt(params.step, 10); }
  if (params.pc !== undefined) {
    var want = params.pc.toLowerCase();
    for (var i = 0; i < steps.length; i++) { if (rows[steps[i]].pc === want) { start = i; } }
  }
  show(start);
  if (params.keys) {
    var names = { Right: "ArrowRight", Left: "ArrowLeft", j: "j", k: "k", Home: "Home", End: "End" };
    (params.keys.match(/Right|Left|Home|End|j|k/g) || []).forEach(function (t) {
      document.dispatchEvent(new KeyboardEvent("keydown", { key: names[t], bubbles: true, cancelable: true }));
    });
  }
  if (params.clicks) {
    params.clicks.split(",").forEach(function (id) {
      var b = document.getElementById(id);
      if (b && b.tagName === "BUTTON") { b.click(); }
    });
  }
  document.body.dataset.ready = "1";
})();
