//! `strata history IMAGE`: IMAGE CREATED CREATED BY SIZE COMMENT, newest first.

use super::open_store;
use crate::cli::Global;
use crate::output::{human_ago, human_size, print_table, short_id};
use clap::Args;
use serde_json::json;
use std::process::ExitCode;
use strata_builder::image::{find_image, history_rows};

/// Arguments of `strata history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Output format: table (default) or json (one object per line)
    #[arg(long)]
    format: Option<String>,
    /// The image
    image: String,
}

pub fn run(global: &Global, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let image = find_image(&store, &args.image)?;
    let rows = history_rows(&image);
    let id = |raw: &str| {
        if args.no_trunc || raw == "<missing>" {
            raw.to_string()
        } else {
            short_id(raw)
        }
    };
    if args.quiet {
        for row in &rows {
            println!("{}", id(&row.id));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let now = chrono::Utc::now();
    let created = |row: &strata_builder::image::HistoryRow| match (row.created, args.human) {
        (Some(c), true) => human_ago(c, now),
        (Some(c), false) => c.to_rfc3339(),
        (None, _) => "N/A".into(),
    };
    let size = |n: u64| {
        if args.human {
            human_size(n)
        } else {
            n.to_string()
        }
    };
    let created_by = |text: &str| {
        if args.no_trunc || text.chars().count() <= 45 {
            text.to_string()
        } else {
            format!("{}…", text.chars().take(44).collect::<String>())
        }
    };
    if matches!(args.format.as_deref(), Some("json") | Some("{{json .}}")) {
        for row in &rows {
            let value = json!({
                "Comment": row.comment,
                "CreatedAt": row.created.map(|c| c.to_rfc3339()).unwrap_or_default(),
                "CreatedBy": created_by(&row.created_by),
                "CreatedSince": created(row),
                "ID": id(&row.id),
                "Size": size(row.size),
            });
            println!("{value}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(other) = args.format.as_deref().filter(|f| *f != "table") {
        anyhow::bail!("unsupported format {other:?}: use table or json");
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                id(&row.id),
                created(row),
                created_by(&row.created_by),
                size(row.size),
                row.comment.clone(),
            ]
        })
        .collect();
    print_table(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &table,
    );
    Ok(ExitCode::SUCCESS)
}
