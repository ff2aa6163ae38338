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
    let DebugCommand::DumpAst(args) = command;
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
