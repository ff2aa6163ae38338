//! `strata search [--limit N] [--filter F]... [--no-trunc] [--format F] TERM`, with current
//! docker's columns (NAME DESCRIPTION STARS OFFICIAL: docker 25 dropped AUTOMATED).
//!
//! The term is split as docker splits it: `host/rest` names a registry when `host` has a `.`
//! or `:` or is `localhost`; otherwise the search goes to Docker Hub's v1 search API. A
//! distribution registry has no search, so strata lists its `/v2/_catalog` and keeps the
//! names that contain the rest of the term.

use super::pull::RegistryArgs;
use crate::template::Template;
use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};
use std::process::ExitCode;
use strata_registry::SearchResult;

/// Docker Hub's index, as docker's `IndexServer`.
const HUB_INDEX: &str = "https://index.docker.io";
/// For tests only: another v1 search index in place of Docker Hub's (`http://127.0.0.1:PORT`).
const HUB_INDEX_ENV: &str = "STRATA_SEARCH_INDEX";
/// For tests only: names per `/v2/_catalog` page (default 100), to exercise pagination.
const PAGE_SIZE_ENV: &str = "STRATA_CATALOG_PAGE_SIZE";

/// Arguments of `strata search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Max number of search results (1 to 100)
    #[arg(long, default_value_t = 25)]
    limit: usize,
    /// Filter output based on conditions provided: stars=N, is-official=true|false,
    /// is-automated=true|false (deprecated: true matches nothing)
    #[arg(short, long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// `table` (default), `json` (one object per line), a Go-like template
    /// ({{.Name}}\t{{.StarCount}}) or `table TEMPLATE` (with docker's header row)
    #[arg(long)]
    format: Option<String>,
    /// The search term; HOST[:PORT]/TERM searches that registry's catalog
    term: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Default)]
struct Filters {
    stars: Option<u64>,
    official: Option<bool>,
    automated: Option<bool>,
}

fn parse_bool(filter: &str, value: &str) -> anyhow::Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => bail!("invalid filter '{filter}={value}': use true or false"),
    }
}

fn parse_filters(raw: &[String]) -> anyhow::Result<Filters> {
    let mut f = Filters::default();
    for item in raw {
        let Some((key, value)) = item.split_once('=') else {
            bail!("bad format of filter (expected name=value)");
        };
        match key {
            // moby keeps the highest of several stars= filters.
            "stars" => {
                let n: u64 = value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("invalid filter 'stars={value}'"))?;
                f.stars = Some(f.stars.map_or(n, |s| s.max(n)));
            }
            "is-official" => f.official = Some(parse_bool(key, value)?),
            "is-automated" => f.automated = Some(parse_bool(key, value)?),
            _ => bail!("invalid filter '{key}'"),
        }
    }
    Ok(f)
}

impl Filters {
    fn keep(&self, r: &SearchResult) -> bool {
        // moby: "is-automated" is deprecated, filtering for true yields nothing.
        if self.automated == Some(true) {
            return false;
        }
        self.official.is_none_or(|o| o == r.is_official)
            && self.stars.is_none_or(|s| r.star_count >= s)
    }
}

/// docker's `splitReposSearchTerm`: (registry host, remote term) or None for Docker Hub.
fn split_term(term: &str) -> (Option<&str>, &str) {
    match term.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            (Some(host), rest)
        }
        _ => (None, term),
    }
}

/// docker's `formatter.Ellipsis`: at most `width` characters, the last one `…` when cut.
fn ellipsis(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

fn row_json(r: &SearchResult, description: &str, official: &str) -> Value {
    json!({
        "Name": r.name,
        "Description": description,
        "StarCount": r.star_count.to_string(),
        "IsOfficial": official,
    })
}

pub fn run(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let filters = parse_filters(&args.filter)?;
    if !(1..=100).contains(&args.limit) {
        bail!("limit {} is outside the range of [1, 100]", args.limit);
    }
    // `table TEMPLATE` prints docker's header row above the rendered rows, in columns.
    let (table, template) = match args.format.as_deref() {
        None | Some("table") | Some("json") => (false, None),
        Some(t) => match t.strip_prefix("table ") {
            Some(rest) => (true, Some(Template::parse(rest)?)),
            None => (false, Some(Template::parse(t)?)),
        },
    };
    if args.term.contains("://") {
        bail!(
            "invalid repository name: repository name ({}) should not have a scheme",
            args.term
        );
    }
    let client = args.registry.client()?;
    let mut results: Vec<SearchResult> = match split_term(&args.term) {
        (Some(host), rest) => {
            let page = std::env::var(PAGE_SIZE_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            let names = client
                .catalog(host, page)
                .with_context(|| format!("listing the repositories of {host}"))?;
            names
                .into_iter()
                .filter(|n| n.contains(rest))
                .map(|n| SearchResult {
                    name: format!("{host}/{n}"),
                    description: String::new(),
                    star_count: 0,
                    is_official: false,
                    is_automated: false,
                })
                .collect()
        }
        (None, rest) => {
            // Official images are stored as library/foo but searched as foo.
            let rest = rest.strip_prefix("library/").unwrap_or(rest);
            let index = std::env::var(HUB_INDEX_ENV).unwrap_or_else(|_| HUB_INDEX.to_string());
            client
                .search_index(&index, "docker.io", rest, args.limit)
                .context("searching Docker Hub")?
                .results
        }
    };
    results.retain(|r| filters.keep(r));
    // docker's client shows the most starred first (ties in the index's order); an index
    // sending more than `n` is cut after sorting.
    results.sort_by_key(|r| std::cmp::Reverse(r.star_count));
    results.truncate(args.limit);

    let trunc = !args.no_trunc;
    let description = |r: &SearchResult| {
        let d = r.description.replace(['\n', '\r'], " ");
        if trunc {
            ellipsis(&d, 45)
        } else {
            d
        }
    };
    match (args.format.as_deref(), template) {
        (_, Some(t)) if table => {
            let header = t.render(&json!({"Name": "NAME", "Description": "DESCRIPTION",
                "StarCount": "STARS", "IsOfficial": "OFFICIAL"}))?;
            let header: Vec<&str> = header.split('\t').collect();
            let mut rows = Vec::new();
            for r in &results {
                let official = if r.is_official { "[OK]" } else { "" };
                let line = t.render(&row_json(r, &description(r), official))?;
                let mut cells: Vec<String> = line.split('\t').map(String::from).collect();
                cells.resize(header.len(), String::new());
                rows.push(cells);
            }
            crate::output::print_table(&header, &rows);
        }
        (_, Some(t)) => {
            for r in &results {
                let official = if r.is_official { "[OK]" } else { "" };
                println!("{}", t.render(&row_json(r, &description(r), official))?);
            }
        }
        (Some("json"), None) => {
            for r in &results {
                let official = if r.is_official { "true" } else { "false" };
                println!("{}", row_json(r, &description(r), official));
            }
        }
        _ => {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        description(r),
                        r.star_count.to_string(),
                        if r.is_official { "[OK]" } else { "" }.to_string(),
                    ]
                })
                .collect();
            crate::output::print_table(&["NAME", "DESCRIPTION", "STARS", "OFFICIAL"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_docker() {
        assert_eq!(split_term("busybox"), (None, "busybox"));
        assert_eq!(split_term("user/app"), (None, "user/app"));
        assert_eq!(
            split_term("127.0.0.1:5000/foo"),
            (Some("127.0.0.1:5000"), "foo")
        );
        assert_eq!(
            split_term("localhost/foo/bar"),
            (Some("localhost"), "foo/bar")
        );
        assert_eq!(split_term("reg.example/x"), (Some("reg.example"), "x"));
    }

    #[test]
    fn ellipsis_cuts_to_width() {
        assert_eq!(ellipsis("short", 45), "short");
        let long = "a".repeat(50);
        let cut = ellipsis(&long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…'));
    }
}
