//! The targeted column of `docs/confirmed.md`: what `twixt confirm --at all` did in a cell
//! ([`TargetedCell::from_report`] keeps it from the JSON report), and its rendering.

use serde::{Deserialize, Serialize};

/// One treated boundary of a targeted cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetedRun {
    /// Offset from the function's entry.
    pub offset: u64,
    /// `crashed`, `survived`, `declined`, `not-reached`, `not-scanned`, `failed`.
    pub outcome: String,
    /// `confirmed`, `agrees`, `not-confirmed`, `unpredicted-crash`, `not-reached`, `failed`.
    pub agreement: String,
    /// Wall seconds of the run (start of qemu to its end).
    pub seconds: f64,
    /// For a crash: seconds from the SIGURG to the runtime's exit.
    pub after_signal: Option<f64>,
    /// The runtime's fatal error, for a crash.
    pub fatal_error: Option<String>,
    /// Times the goroutine was preempted there and scanned (for a survivor).
    pub treatments: usize,
}

/// What `twixt confirm --at all` did in one cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetedCell {
    /// Budget of each run.
    pub timeout_seconds: f64,
    /// The predicted windows a goroutine reached, each treated once.
    pub windows: Vec<TargetedRun>,
    /// The safe control before each reached window.
    pub controls: Vec<TargetedRun>,
    /// Predicted windows no goroutine reached (`+0xec`).
    pub not_reached: Vec<String>,
}

impl TargetedCell {
    /// From a `twixt confirm --at all --format json` report, the targets in `function`.
    pub fn from_report(report: &serde_json::Value, function: &str) -> Result<TargetedCell, String> {
        let targets = report["targets"]
            .as_array()
            .ok_or("the report has no targets (not a `twixt confirm --at` report)")?;
        let mut cell = TargetedCell {
            timeout_seconds: report["timeout_seconds"].as_f64().unwrap_or(0.0),
            windows: Vec::new(),
            controls: Vec::new(),
            not_reached: Vec::new(),
        };
        for t in targets.iter().filter(|t| t["function"] == function) {
            let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
            let watched = &t["watched"];
            let run = TargetedRun {
                offset: t["offset"].as_u64().ok_or("a target without an offset")?,
                outcome: s(&t["outcome"]).unwrap_or_default(),
                agreement: s(&t["agreement"]).unwrap_or_default(),
                seconds: t["seconds"].as_f64().unwrap_or(0.0),
                after_signal: watched["exit_after_signal"].as_f64(),
                fatal_error: s(&t["fatal_error"]),
                treatments: watched["treatments"].as_array().map_or(0, |v| {
                    v.iter().filter(|x| !x["injected_lr"].is_null()).count()
                }),
            };
            match (t["role"].as_str(), run.outcome.as_str()) {
                (Some("window"), "not-reached") => {
                    cell.not_reached.push(format!("+{:#x}", run.offset));
                }
                (Some("window"), _) => cell.windows.push(run),
                (Some("control"), _) => cell.controls.push(run),
                _ => {}
            }
        }
        Ok(cell)
    }

    /// Every reached window crashed the runtime at the treated goroutine and boundary, at
    /// least one was reached, every control survived or was declined, and the windows
    /// treated are the predicted ones (`+0xe8 unexpected-return-pc` labels).
    pub fn agrees(&self, predicted_go: &[String]) -> bool {
        let predicted = |off: u64| {
            let want = format!("+{off:#x} ");
            predicted_go.iter().any(|p| p.starts_with(&want))
        };
        !self.windows.is_empty()
            && self
                .windows
                .iter()
                .all(|w| w.agreement == "confirmed" && predicted(w.offset))
            && self.controls.iter().all(|c| c.agreement == "agrees")
            && self.windows.len() + self.not_reached.len() == predicted_go.len()
    }

    /// The cell's text: `**crashed** at +0x100 in 0.21 s (23 ms after SIGURG)`, the
    /// windows not reached, and the controls.
    pub fn text(&self) -> (String, String) {
        let mut parts: Vec<String> = self
            .windows
            .iter()
            .map(|w| {
                let mut t = match w.outcome.as_str() {
                    "crashed" => format!("**crashed** at +{:#x} in {:.2} s", w.offset, w.seconds),
                    other => format!("**{other}** at +{:#x} in {:.2} s", w.offset, w.seconds),
                };
                if let Some(a) = w.after_signal {
                    t.push_str(&format!(" ({:.0} ms after SIGURG)", a * 1e3));
                }
                if let Some(e) = &w.fatal_error {
                    t.push_str(&format!(", `{e}`"));
                }
                t
            })
            .collect();
        if !self.not_reached.is_empty() {
            parts.push(format!(
                "{} not reached (budget {:.0} s)",
                self.not_reached.join(", "),
                self.timeout_seconds
            ));
        }
        let controls: Vec<String> = self
            .controls
            .iter()
            .map(|c| match c.outcome.as_str() {
                "survived" => format!(
                    "+{:#x} survived {} preemption(s) and GC scan(s) in {:.2} s",
                    c.offset, c.treatments, c.seconds
                ),
                other => format!("+{:#x} {other} in {:.2} s", c.offset, c.seconds),
            })
            .collect();
        (parts.join("<br>"), controls.join("<br>"))
    }
}
