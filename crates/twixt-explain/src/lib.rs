//! `twixt explain`: one function's prologue and epilogues, boundary by boundary.
//!
//! The scanner reports, for every instruction boundary it runs, what it saw (a
//! [`BoundaryRecord`]: SP, R29, the metadata, both model unwinders' walks). [`collect`]
//! gathers those for one function, [`model::build`] turns them into table rows with every
//! column worked out and a plain-language explanation, and two renderers show the same
//! model: [`text::render`] (the terminal table) and [`html::render`] (one self-contained web
//! page with a stack diagram). [`lesson`] names guided examples over the bundled corpus.

pub mod html;
pub mod lesson;
pub mod model;
pub mod text;

use std::sync::Mutex;

pub use model::{Explanation, Selection, build};
pub use twixt_check::{BoundaryRecord, WalkRecord};
use twixt_check::{GoProgram, ScanOptions};

/// Why a function cannot be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// No function of that name.
    #[error("{binary}: no function named {name:?} (try `twixt funcs {binary} --filter REGEX`)")]
    NoFunction {
        /// The binary's path.
        binary: String,
        /// The name asked for.
        name: String,
    },
    /// The scan could not run.
    #[error("{0}")]
    Scan(#[from] twixt_check::ScanError),
    /// The scan could not run the function.
    #[error("{binary}: {name}: could not be analysed: {reason}")]
    Unanalysed {
        /// The binary's path.
        binary: String,
        /// The function.
        name: String,
        /// The scanner's reason.
        reason: String,
    },
}

/// Scans one function and returns what the scanner saw at each of its boundaries, sorted by
/// PC.
pub fn collect(prog: &GoProgram<'_>, function: &str) -> Result<Vec<BoundaryRecord>, ExplainError> {
    let binary = prog.image().path().to_string();
    if prog.func_named(function).is_none() {
        return Err(ExplainError::NoFunction {
            binary,
            name: function.into(),
        });
    }
    let out: Mutex<Vec<BoundaryRecord>> = Mutex::new(Vec::new());
    let on_boundary = |r: &BoundaryRecord| {
        // A poisoned lock only means another callback panicked; keep what was collected.
        let mut v = out.lock().unwrap_or_else(|e| e.into_inner());
        v.push(r.clone());
    };
    let filter = |name: &str| name == function;
    let options = ScanOptions {
        filter: Some(&filter),
        on_boundary: Some(&on_boundary),
        jobs: 1,
        ..Default::default()
    };
    let report = twixt_check::scan(prog, &options)?;
    if let Some(u) = report.unanalysed.iter().find(|u| u.function == function) {
        return Err(ExplainError::Unanalysed {
            binary,
            name: function.into(),
            reason: u.reason.clone(),
        });
    }
    let mut records = out.into_inner().unwrap_or_else(|e| e.into_inner());
    records.sort_by_key(|r| r.pc);
    Ok(records)
}

/// Collects and builds the model for `function` of `prog`.
pub fn explain(
    prog: &GoProgram<'_>,
    function: &str,
    selection: Selection,
) -> Result<Explanation, ExplainError> {
    let records = collect(prog, function)?;
    let meta = prog
        .func_named(function)
        .ok_or_else(|| ExplainError::NoFunction {
            binary: prog.image().path().to_string(),
            name: function.into(),
        })?;
    Ok(build(
        prog.image().file_name(),
        Some(&prog.version_info().label()),
        function,
        meta.info.entry,
        meta.frame_size(),
        records,
        selection,
    ))
}

/// Applies a lesson's start rule to a built model.
pub fn apply_lesson(ex: &mut Explanation, lesson: &lesson::Lesson) {
    let start = match lesson.start {
        lesson::StartAt::FirstGoWindow => ex.rows.iter().position(|r| r.go.verdict.is_wrong()),
        lesson::StartAt::FirstFpWindow => ex.rows.iter().position(|r| r.fp.verdict.is_wrong()),
        lesson::StartAt::Instruction(text) => ex.rows.iter().position(|r| r.instruction == text),
    };
    if let Some(pc) = start.and_then(|i| ex.rows.get(i)).map(|r| r.pc.clone())
        && let Ok(pc) = u64::from_str_radix(pc.trim_start_matches("0x"), 16)
    {
        ex.start_at(pc);
    }
    ex.lesson = Some(model::LessonText {
        name: lesson.name.into(),
        title: lesson.title.into(),
        intro: lesson.intro.iter().map(|p| p.to_string()).collect(),
    });
}

#[cfg(test)]
mod tests;
