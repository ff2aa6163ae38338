//! Formatting shared by the commands: docker's human sizes and durations, error chains.

use chrono::{DateTime, Utc};

/// `error: outer: cause: root cause`, as the binary prints every failure.
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        // anyhow contexts often repeat their source verbatim; print each message once.
        if parts.last().map(|p| p.ends_with(&text)).unwrap_or(false) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

/// docker's `units.HumanSize`: decimal units, four significant digits ("4.26MB", "512B").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", go_g4(size), UNITS[unit])
}

/// Go's `%.4g` for the magnitudes human_size produces (0 <= v < 1000).
fn go_g4(v: f64) -> String {
    let digits_before = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as i32 + 1).max(1)
    };
    let decimals = (4 - digits_before).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// docker's `units.HumanDuration` followed by " ago" ("About an hour ago", "3 days ago").
pub fn human_ago(when: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - when).num_seconds().max(0);
    format!("{} ago", human_duration(secs))
}

/// docker's `units.HumanDuration` of a number of seconds ("About a minute", "3 days").
pub fn human_duration(secs: i64) -> String {
    let minutes = secs / 60;
    let hours = minutes / 60;
    match secs {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

/// Shortens a `sha256:<hex>` to docker's 12-character ID form.
pub fn short_id(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.chars().take(12).collect()
}

/// Prints rows as left-aligned columns separated by three spaces, like docker's tabwriter.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 3;
                out.push_str(&" ".repeat(pad));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Writes a tar stream to `path` or, without one, to stdout (never to a terminal), as
/// `docker save`/`export` do. A file is written beside its target and renamed into place
/// after an fsync, so a failure never leaves half a file.
pub fn write_archive(
    path: Option<&std::path::Path>,
    write: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::{BufWriter, IsTerminal, Write};
    let Some(path) = path else {
        let stdout = std::io::stdout();
        if stdout.is_terminal() {
            anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        }
        let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
        write(&mut out)?;
        out.flush()?;
        return Ok(());
    };
    let tmp = path.with_file_name(format!(
        ".{}.strata-tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let result = (|| {
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(4_264_000), "4.264MB");
        assert_eq!(human_size(1_234_567_890), "1.235GB");
        assert_eq!(human_size(77_800_000), "77.8MB");
    }

    #[test]
    fn durations_match_docker() {
        let now = Utc::now();
        assert_eq!(human_ago(now, now), "Less than a second ago");
        assert_eq!(
            human_ago(now - chrono::Duration::seconds(90), now),
            "About a minute ago"
        );
        assert_eq!(
            human_ago(now - chrono::Duration::hours(5), now),
            "5 hours ago"
        );
        assert_eq!(
            human_ago(now - chrono::Duration::days(3), now),
            "3 days ago"
        );
    }
}
