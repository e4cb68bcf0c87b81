//! The web page: one self-contained HTML file (inline CSS, JavaScript and SVG; no network,
//! no external fonts or scripts). The model is embedded as JSON in `#twixt-data`; the
//! script draws the stack diagram for the current boundary, marks it in the disassembly and
//! shows the explanation, and steps with the Prev/Next buttons, the arrow keys and j/k.
//!
//! Stable hooks for tests: `#verdict` (text and `data-verdict`), `#fp-verdict`, the slot
//! the Go unwinder reads (`#slot-read`, class `slot-read`, `data-slot` such as `[sp+0x0]`
//! and `data-read`), `body[data-pc]` and `body[data-step]`, `#prev`, `#next`. The fragment
//! `#step=N` (index among the stepped boundaries) or `#pc=0x...` picks the start, and
//! `keys=RightLeftjk` replays keys as real `KeyboardEvent`s after load, `clicks=next,prev`
//! presses the buttons.

use std::fmt::Write as _;

use crate::model::Explanation;

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside a `<script>` element: no `<`, `>` or `&` survive unescaped.
fn script_json(ex: &Explanation) -> String {
    let json = serde_json::to_string(ex).unwrap_or_else(|_| "{}".into());
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Renders the page.
pub fn render(ex: &Explanation) -> String {
    let version = ex.go_version.as_deref().unwrap_or("unknown Go version");
    let mut s = String::new();
    let _ = writeln!(s, "<!DOCTYPE html>");
    let _ = writeln!(s, "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">");
    let _ = writeln!(
        s,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
    );
    let _ = writeln!(
        s,
        "<title>twixt explain {} ({})</title>",
        escape(&ex.function),
        escape(version)
    );
    let _ = writeln!(s, "<style>\n{CSS}</style>\n</head>\n<body>");
    let _ = writeln!(
        s,
        "<header>\n<h1>twixt explain <code id=\"function\">{}</code> in {} ({})</h1>",
        escape(&ex.function),
        escape(&ex.binary),
        escape(version)
    );
    let _ = writeln!(
        s,
        "<p>entry {}, frame {:#x} bytes, {} boundaries, <span id=\"window-count\">{}</span> window(s). \
         Stack addresses are relative to the caller's SP (higher addresses at the top).</p>\n</header>",
        escape(&ex.entry),
        ex.frame,
        ex.rows.len(),
        ex.windows
    );
    if let Some(lesson) = &ex.lesson {
        let _ = writeln!(
            s,
            "<section id=\"lesson\" data-lesson=\"{}\">\n<h2>Lesson {}: {}</h2>",
            escape(&lesson.name),
            escape(&lesson.name),
            escape(&lesson.title)
        );
        for p in &lesson.intro {
            let _ = writeln!(s, "<p>{}</p>", escape(p));
        }
        let _ = writeln!(s, "</section>");
    }
    let _ = writeln!(
        s,
        "<div id=\"controls\"><button id=\"prev\" type=\"button\">&#9664; Prev</button>\
         <button id=\"next\" type=\"button\">Next &#9654;</button>\
         <span id=\"position\"></span><span id=\"current-insn\"></span>\
         <span class=\"hint\">keys: &larr; &rarr; or k j; click a line to jump</span></div>"
    );
    let _ = writeln!(
        s,
        "<main>\n<section id=\"diagram-pane\"><h2>The stack at this boundary</h2>\
         <svg id=\"stack\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" \
         aria-label=\"stack diagram\"></svg></section>\n\
         <section id=\"disasm-pane\"><h2>Disassembly</h2><ol id=\"disasm\"></ol></section>\n</main>"
    );
    let _ = writeln!(
        s,
        "<section id=\"detail\">\n<p>Go unwinder: <strong id=\"verdict\"></strong> \
         &nbsp; frame-pointer walk: <strong id=\"fp-verdict\"></strong></p>\n<table id=\"facts\">\
         <tr><th>SP</th><td id=\"fact-sp\"></td></tr>\
         <tr><th>pcsp (what the metadata claims)</th><td id=\"fact-pcsp\"></td></tr>\
         <tr><th>caller SP the Go unwinder computes</th><td id=\"fact-computed\"></td></tr>\
         <tr><th>Go unwinder reads the return PC at</th><td id=\"fact-go-reads\"></td></tr>\
         <tr><th>true return PC</th><td id=\"fact-true\"></td></tr>\
         <tr><th>R29 as a frame pointer</th><td id=\"fact-r29\"></td></tr>\
         <tr><th>asynchronous preemption here</th><td id=\"fact-async\"></td></tr>\
         </table>\n<div id=\"explanation\"></div>\n</section>"
    );
    let _ = writeln!(
        s,
        "<noscript><p>This page needs JavaScript to step through the boundaries; \
         `twixt explain` prints the same table in a terminal.</p></noscript>"
    );
    let _ = writeln!(
        s,
        "<script type=\"application/json\" id=\"twixt-data\">{}</script>",
        script_json(ex)
    );
    let _ = writeln!(s, "<script>\n{JS}</script>\n</body>\n</html>");
    s
}
