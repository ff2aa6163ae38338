//! `strata build --check`: parse, lint and compile without building.

use super::build::compile_with;
use super::{FrontendOptions, LintWarning};
use crate::dockerfile::instructions::FrontendError;
use crate::dockerfile::lint::Linter;
use crate::dockerfile::scope::unused_build_args_warning;

/// What `--check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The warnings, sorted by line (also those found before a fatal error).
    pub warnings: Vec<LintWarning>,
    /// The error that stops the build, if any.
    pub error: Option<FrontendError>,
    /// The file name used in the rendering.
    pub file_name: String,
    /// `[Warning] One or more build-args [...] were not consumed`, when it applies.
    pub unused_build_args: Option<String>,
}

impl CheckReport {
    /// Whether `--check` exits with status 1 (any warning or an error, as BuildKit).
    pub fn failed(&self) -> bool {
        self.error.is_some() || !self.warnings.is_empty()
    }

    /// The report as text: each warning rendered at its line, then the error.
    pub fn render(&self, source: &str) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&w.render(source, &self.file_name));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        if let Some(e) = &self.error {
            out.push_str(&e.render(source, &self.file_name));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        if let Some(u) = &self.unused_build_args {
            out.push_str(u);
            out.push('\n');
        }
        out
    }
}

/// Checks a Dockerfile: every stage is processed when no target is given (as BuildKit's
/// lint request does), only those the target reaches otherwise.
pub fn check(source: &str, file_name: &str, opts: &FrontendOptions) -> CheckReport {
    let mut opts = opts.clone();
    if opts.target.as_deref().unwrap_or("").is_empty() {
        opts.all_stages = true;
    }
    let mut lint = Linter::default();
    let res = compile_with(source, &opts, &mut lint);
    match res {
        Ok(g) => CheckReport {
            warnings: g.warnings,
            error: None,
            file_name: file_name.to_string(),
            unused_build_args: unused_build_args_warning(&g.unused_build_args),
        },
        Err(e) => CheckReport {
            warnings: lint.sorted(),
            error: Some(e),
            file_name: file_name.to_string(),
            unused_build_args: None,
        },
    }
}
