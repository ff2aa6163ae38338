//! `strata builder prune [-a] [-f] [--filter until=DURATION]`: removes build-cache records,
//! then what only they kept. Without `-a` only dangling cache goes: records whose layer no
//! image uses (BuildKit likewise keeps cache an image shares).

use super::{confirm, open_store};
use crate::cli::Global;
use crate::output::human_size;
use anyhow::bail;
use chrono::{DateTime, Utc};
use clap::Args;
use std::process::ExitCode;
use strata_cache::CachePruneFilter;

/// Arguments of `strata builder prune` (and the build-cache part of `system prune`).
#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. until=24h: keep cache used in the last 24 hours)
    #[arg(long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
}

/// Go's `time.ParseDuration` for the units docker's users write (`90s`, `2h30m`, `1.5h`).
pub fn parse_go_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    let bad = || anyhow::anyhow!("time: invalid duration {text:?}");
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * secs;
        rest = &rest[unit_len..];
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

/// The cutoff of the `until=` filters: records last used before it may go.
fn until(filters: &[String]) -> anyhow::Result<Option<DateTime<Utc>>> {
    let mut cutoff = None;
    for f in filters {
        match f.split_once('=') {
            Some(("until", v)) => {
                let age = chrono::Duration::from_std(parse_go_duration(v)?)?;
                cutoff = Some(Utc::now() - age);
            }
            Some((key, _)) => {
                bail!("invalid filter '{key}': builder prune supports until=DURATION")
            }
            None => bail!("bad format of filter (expected name=value)"),
        }
    }
    Ok(cutoff)
}

/// The filter for these flags.
pub fn cache_filter(all: bool, filters: &[String]) -> anyhow::Result<CachePruneFilter> {
    Ok(match (all, until(filters)?) {
        (true, None) => CachePruneFilter::All,
        (true, Some(t)) => CachePruneFilter::UnusedSince(t),
        (false, t) => CachePruneFilter::Dangling(t),
    })
}

/// Prunes and prints docker's "Deleted build cache objects:" list; returns bytes freed.
pub fn prune(global: &Global, filter: CachePruneFilter) -> anyhow::Result<u64> {
    let store = open_store(global)?;
    let report = store.cache_prune(filter)?;
    if !report.removed.is_empty() {
        println!("Deleted build cache objects:");
        for record in &report.removed {
            println!("{}", record.key.hex());
        }
        println!();
    }
    Ok(report.gc.total_bytes_freed())
}

pub fn run(global: &Global, args: BuilderPruneArgs) -> anyhow::Result<ExitCode> {
    let filter = cache_filter(args.all, &args.filter)?;
    let question = if args.all {
        "WARNING! This will remove all build cache. Are you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
    };
    if !args.force && !confirm(question) {
        return Ok(ExitCode::SUCCESS);
    }
    let freed = prune(global, filter)?;
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("24h").unwrap(),
            Duration::from_secs(86400)
        );
        assert_eq!(
            parse_go_duration("2h30m").unwrap(),
            Duration::from_secs(9000)
        );
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "h", "10", "3d", "1x"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }
}
