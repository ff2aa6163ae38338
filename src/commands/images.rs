//! `strata images`: REPOSITORY TAG IMAGE ID CREATED SIZE, as `docker images`.

use super::open_store;
use crate::cli::Global;
use crate::output::{human_ago, human_size, print_table, short_id};
use anyhow::bail;
use clap::Args;
use serde_json::json;
use std::process::ExitCode;
use strata_builder::image::Image;
use strata_registry::Reference;

/// Arguments of `strata images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (strata keeps no intermediate images, so this equals the default)
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output: dangling=true|false, reference=PATTERN
    #[arg(short, long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Output format: table (default) or json (one object per line)
    #[arg(long)]
    format: Option<String>,
    /// Only images whose repository matches (REPOSITORY[:TAG])
    repository: Option<String>,
}

struct Row {
    repository: String,
    tag: String,
    digest: String,
    image: std::rc::Rc<Image>,
}

#[derive(Default)]
struct Filters {
    dangling: Option<bool>,
    references: Vec<String>,
}

fn parse_filters(raw: &[String]) -> anyhow::Result<Filters> {
    let mut filters = Filters::default();
    for f in raw {
        match f.split_once('=') {
            Some(("dangling", v)) => {
                filters.dangling = Some(match v.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid filter 'dangling={v}': use true or false"),
                })
            }
            Some(("reference", v)) => filters.references.push(v.to_string()),
            _ => bail!(
                "invalid filter '{f}': supported are dangling=true|false and reference=PATTERN"
            ),
        }
    }
    Ok(filters)
}

pub fn run(global: &Global, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let mut filters = parse_filters(&args.filter)?;
    if let Some(repo) = &args.repository {
        filters.references.push(repo.clone());
    }
    let store = open_store(global)?;
    let mut rows = Vec::new();
    for entry in store.images()? {
        let image = std::rc::Rc::new(Image::load(&store, entry)?);
        let refs = image.references();
        let tagged: Vec<&Reference> = refs.iter().filter(|r| r.digest().is_none()).collect();
        let digest = image.entry.digest().to_string();
        if let Some(dangling) = filters.dangling {
            if dangling != refs.is_empty() {
                continue;
            }
        }
        if tagged.is_empty() {
            if !filters.references.is_empty() {
                continue;
            }
            rows.push(Row {
                repository: "<none>".into(),
                tag: "<none>".into(),
                digest,
                image,
            });
            continue;
        }
        for r in tagged {
            if !filters.references.is_empty()
                && !filters.references.iter().any(|p| r.matches_pattern(p))
            {
                continue;
            }
            rows.push(Row {
                repository: r.familiar_name(),
                tag: r.tag().unwrap_or("<none>").to_string(),
                digest: digest.clone(),
                image: image.clone(),
            });
        }
    }
    rows.sort_by(|a, b| {
        b.image
            .config
            .created
            .cmp(&a.image.config.created)
            .then(a.repository.cmp(&b.repository))
    });
    let id = |row: &Row| {
        if args.no_trunc {
            row.image.id.to_string()
        } else {
            short_id(&row.image.id.to_string())
        }
    };
    if args.quiet {
        for row in &rows {
            println!("{}", id(row));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let now = chrono::Utc::now();
    let created = |row: &Row| {
        row.image
            .config
            .created
            .map(|c| human_ago(c, now))
            .unwrap_or_else(|| "N/A".into())
    };
    match args.format.as_deref() {
        Some("json") | Some("{{json .}}") => {
            for row in &rows {
                let value = json!({
                    "Containers": "N/A",
                    "CreatedAt": row.image.config.created.map(|c| c.format("%Y-%m-%d %H:%M:%S %z UTC").to_string()).unwrap_or_default(),
                    "CreatedSince": created(row),
                    "Digest": row.digest,
                    "ID": id(row),
                    "Repository": row.repository,
                    "SharedSize": "N/A",
                    "Size": human_size(row.image.size()),
                    "Tag": row.tag,
                    "UniqueSize": "N/A",
                    "VirtualSize": human_size(row.image.size()),
                });
                println!("{value}");
            }
        }
        Some("table") | None => {
            let mut header = vec!["REPOSITORY", "TAG"];
            if args.digests {
                header.push("DIGEST");
            }
            header.extend(["IMAGE ID", "CREATED", "SIZE"]);
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    let mut cells = vec![row.repository.clone(), row.tag.clone()];
                    if args.digests {
                        cells.push(row.digest.clone());
                    }
                    cells.extend([id(row), created(row), human_size(row.image.size())]);
                    cells
                })
                .collect();
            print_table(&header, &table);
        }
        Some(other) => bail!("unsupported format {other:?}: use table or json"),
    }
    let _ = args.all;
    Ok(ExitCode::SUCCESS)
}
