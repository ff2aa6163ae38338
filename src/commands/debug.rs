//! `strata debug dump-ast FILE`: the parsed tree in BuildKit's dump format.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use strata_builder::dockerfile::{dump, parser};

/// `strata debug ...`
#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Print a Dockerfile's syntax tree in BuildKit's dump format
    DumpAst(DumpAstArgs),
    /// Print the README's command reference (one Markdown table row per command)
    #[command(hide = true)]
    CliReference,
}

/// Arguments of `strata debug dump-ast`.
#[derive(Debug, Args)]
pub struct DumpAstArgs {
    /// Also print the heredocs of each instruction
    #[arg(long)]
    heredocs: bool,
    /// The Dockerfile
    file: PathBuf,
}

pub fn run(command: DebugCommand) -> anyhow::Result<ExitCode> {
    let args = match command {
        DebugCommand::DumpAst(args) => args,
        DebugCommand::CliReference => {
            print!("{}", cli_reference());
            return Ok(ExitCode::SUCCESS);
        }
    };
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match parser::parse(&source) {
        Ok(ast) => {
            if args.heredocs {
                print!("{}", dump::dump_heredocs(&ast));
            } else {
                print!("{}", dump::dump(&ast));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("error: {}", err.render(&name, &source));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Every command that runs something (groups' entries included, hidden ones left out) as a
/// Markdown table row: usage and the one-line help. tests/cli_groups.rs checks the README
/// holds exactly this, so the reference cannot drift from the command line.
pub fn cli_reference() -> String {
    fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
        // clap's generated `help` subcommands are not commands of strata's.
        let subs = cmd.get_subcommands();
        for sub in subs.filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            if sub.has_subcommands() {
                walk(sub, out);
                continue;
            }
            let mut sub = sub.clone();
            let usage = sub.render_usage().to_string();
            let usage = usage.trim().trim_start_matches("Usage:").trim();
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            let aliases: Vec<&str> = sub.get_visible_aliases().collect();
            let aliases = if aliases.is_empty() {
                String::new()
            } else {
                format!(" (alias: {})", aliases.join(", "))
            };
            out.push(format!(
                "| `{}` | {about}{aliases} |\n",
                usage.replace('|', "\\|")
            ));
        }
    }
    let mut cmd = crate::cli::command();
    cmd.build();
    let mut rows = Vec::new();
    walk(&cmd, &mut rows);
    rows.sort();
    format!("| command | what it does |\n|---|---|\n{}", rows.concat())
}
