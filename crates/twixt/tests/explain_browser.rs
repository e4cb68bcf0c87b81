//! The `twixt explain --html` page in a real browser: Debian's headless `chromium`
//! (installed by `scripts/bootstrap`) loads the page for the go1.23.4 `main.nonleaf70000`,
//! steps to the #73259 window with keys and buttons, and the test checks what the page
//! shows there (the verdict, the slot the unwinder reads and the value it finds), then takes
//! a screenshot that must not be blank. A missing chromium fails the test: CI installs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::corpus;
use twixt_check::GoProgram;
use twixt_explain::{Selection, explain};

/// The browser: `$TWIXT_CHROMIUM`, else `chromium` on PATH.
fn chromium() -> String {
    std::env::var("TWIXT_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// A fresh scratch directory for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("twixt-explain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs headless chromium on `url` with `extra` arguments; returns stdout.
fn run_chromium(profile: &Path, url: &str, extra: &[&str]) -> String {
    let browser = chromium();
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the browser {browser:?} ({e}): the explain page is tested in \
                 Debian's headless chromium; run scripts/bootstrap (it installs the `chromium` \
                 package) or set TWIXT_CHROMIUM to a Chromium binary"
            )
        });
    assert!(
        out.status.success(),
        "{browser} {url} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of attribute `attr` on the first element whose opening tag contains `anchor`.
fn attr(dom: &str, anchor: &str, attr: &str) -> Option<String> {
    let at = dom.find(anchor)?;
    let open = dom[..at].rfind('<')?;
    let close = at + dom[at..].find('>')?;
    let tag = &dom[open..close];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    let end = v + tag[v..].find('"')?;
    Some(tag[v..end].replace("&amp;", "&"))
}

/// The text content of the element with `id` (no nested elements).
fn text_of(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = at + dom[at..].find('>')? + 1;
    let end = start + dom[start..].find('<')?;
    Some(dom[start..end].to_string())
}

struct Page {
    dir: PathBuf,
    url: String,
    /// PCs of the window boundary and the stepped boundaries either side of it.
    before: String,
    window: String,
    after: String,
    /// The slot the Go unwinder reads there (`[sp+0x0]`), the value, and the true slot.
    slot: String,
    read: String,
    true_slot: String,
}

fn page(name: &str) -> Page {
    let path = corpus().join("go1.23.4/frames");
    let image = twixt_image::Image::open(&path).expect("corpus binary");
    let prog = GoProgram::new(&image).expect("pclntab");
    let ex = explain(&prog, "main.nonleaf70000", Selection::Interesting).expect("explain");
    // The window: the second ADD of the split epilogue, found by instruction, not address.
    let w = ex
        .rows
        .iter()
        .find(|r| r.instruction == "add sp, sp, #0x11, lsl #12" && r.go.verdict.is_wrong())
        .expect("go1.23.4 main.nonleaf70000 has a window at the second ADD");
    let k = ex.shown.iter().position(|&i| i == w.index).expect("shown");
    let pc_of = |k: usize| ex.rows[ex.shown[k]].pc.clone();

    let dir = scratch(name);
    let html = dir.join("page.html");
    let status = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(["explain", "--color", "never", "--html"])
        .arg(&html)
        .arg(&path)
        .arg("main.nonleaf70000")
        .output()
        .expect("run twixt");
    assert!(status.status.success(), "{status:?}");
    Page {
        url: format!("file://{}", html.display()),
        dir,
        before: pc_of(k - 1),
        window: w.pc.clone(),
        after: pc_of(k + 1),
        slot: w.go.slot_sp.clone().expect("a slot"),
        read: w.go.read.clone().expect("a value"),
        true_slot: w.true_slot_sp.clone().expect("the saved LR"),
    }
}

/// What the page shows after loading with `fragment`.
fn dump(p: &Page, fragment: &str) -> String {
    run_chromium(
        &p.dir.join("profile"),
        &format!("{}#{fragment}", p.url),
        &["--dump-dom"],
    )
}

fn assert_at_window(p: &Page, dom: &str, how: &str) {
    assert_eq!(
        attr(dom, "<body", "data-ready").as_deref(),
        Some("1"),
        "{how}: script ran"
    );
    assert_eq!(
        attr(dom, "<body", "data-pc").as_deref(),
        Some(p.window.as_str()),
        "{how}: at the window"
    );
    let verdict = text_of(dom, "verdict").unwrap_or_default();
    assert_eq!(verdict, "unexpected-return-pc (preemptible)", "{how}");
    assert_eq!(
        attr(dom, "id=\"slot-read\"", "data-slot").as_deref(),
        Some(p.slot.as_str()),
        "{how}: the marked slot"
    );
    assert_eq!(
        attr(dom, "id=\"slot-read\"", "data-read").as_deref(),
        Some(p.read.as_str()),
        "{how}: the value read there"
    );
    assert!(
        attr(dom, "id=\"slot-read\"", "class").is_some_and(|c| c.contains("slot-read bad")),
        "{how}: the read slot is marked wrong"
    );
    // The wrong slot: the saved LR is elsewhere.
    assert_ne!(p.slot, p.true_slot);
    assert!(
        text_of(dom, "fact-true").is_some_and(|t| t.contains(&p.true_slot)),
        "{how}: the true slot is shown"
    );
    assert!(
        dom.contains("class=\"window preemptible current\""),
        "{how}: disassembly"
    );
}

#[test]
fn steps_to_the_window_with_keys_and_buttons() {
    let p = page("keys");
    // Arrow key from the boundary before.
    let dom = dump(&p, &format!("pc={}&keys=Right", p.before));
    assert_at_window(&p, &dom, "Right from the boundary before");
    // j/k and Left from the boundary after.
    let dom = dump(&p, &format!("pc={}&keys=kjk", p.after));
    assert_at_window(&p, &dom, "k j k from the boundary after");
    let dom = dump(&p, &format!("pc={}&keys=Left", p.after));
    assert_at_window(&p, &dom, "Left from the boundary after");
    // The buttons.
    let dom = dump(&p, &format!("pc={}&clicks=next,next,prev", p.before));
    assert_at_window(&p, &dom, "Next Next Prev from the boundary before");
    // And somewhere else the page says so.
    let dom = dump(&p, &format!("pc={}", p.after));
    assert_eq!(
        attr(&dom, "<body", "data-pc").as_deref(),
        Some(p.after.as_str())
    );
    assert_eq!(text_of(&dom, "verdict").as_deref(), Some("ok"));
    let _ = std::fs::remove_dir_all(&p.dir);
}

#[test]
fn screenshot_is_not_blank() {
    let p = page("shot");
    let shot = p.dir.join("shot.png");
    run_chromium(
        &p.dir.join("profile-shot"),
        &format!("{}#pc={}", p.url, p.window),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,900",
        ],
    );
    let file = std::fs::File::open(&shot).expect("chromium wrote the screenshot");
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    assert!(info.width >= 800 && info.height >= 600, "{info:?}");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{info:?}");
    let mut colours = std::collections::BTreeMap::<[u8; 3], usize>::new();
    for px in buf[..info.buffer_size()].chunks_exact(channels) {
        *colours.entry([px[0], px[1], px[2]]).or_default() += 1;
    }
    // A blank or failed render is one or two colours; the page has dozens.
    assert!(colours.len() >= 16, "only {} colours", colours.len());
    // The window's verdict badge (#c62828) and the header (#1d2b45) are drawn.
    let has = |rgb: [u8; 3], min: usize| colours.get(&rgb).copied().unwrap_or(0) >= min;
    assert!(
        has([0xc6, 0x28, 0x28], 200),
        "no red verdict badge in the screenshot"
    );
    assert!(
        has([0x1d, 0x2b, 0x45], 10_000),
        "no page header in the screenshot"
    );
    let _ = std::fs::remove_dir_all(&p.dir);
}
