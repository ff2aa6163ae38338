//! Small value parsers that BuildKit borrows from Go's standard library and docker's
//! helpers (durations, booleans, sizes, signals, CSV fields, paths); their error texts are
//! part of BuildKit's messages, so they are reproduced.

use std::time::Duration;

/// Go's `strconv.Quote` for the printable ASCII case (enough for error messages).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `time.ParseDuration`; negative values are returned as `Err` only when they would not
/// fit, the sign is reported through the `bool`.
pub(crate) fn parse_go_duration(orig: &str) -> Result<(bool, u128), String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok((false, 0));
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let b = s.as_bytes()[0];
        if !(b == b'.' || b.is_ascii_digit()) {
            return Err(invalid());
        }
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part: u128 = if digits > 0 {
            s[..digits].parse::<u128>().map_err(|_| invalid())?
        } else {
            0
        };
        s = &s[digits..];
        let mut frac = String::new();
        let mut post = false;
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac = rest[..n].to_string();
            post = n > 0;
            s = &rest[n..];
        }
        if digits == 0 && !post {
            return Err(invalid());
        }
        let unit_len = s
            .bytes()
            .take_while(|c| *c != b'.' && !c.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let u = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u128 = match u {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(u),
                    go_quote(orig)
                ))
            }
        };
        let mut v = int_part.checked_mul(unit).ok_or_else(invalid)?;
        if !frac.is_empty() {
            // Go accumulates at most ~19 fraction digits; truncation is the same.
            let scale = 10u128.pow(frac.len().min(30) as u32);
            let f: u128 = frac[..frac.len().min(30)].parse().unwrap_or(0);
            v += f * unit / scale;
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return Err(invalid());
        }
    }
    Ok((neg && total > 0, total))
}

/// Formats a duration as Go's `time.Duration.String()` does (`1m30s`, `100ms`, `0s`).
pub(crate) fn format_go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1)
        } else if ns < 1_000_000 {
            ("\u{b5}s", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", frac_str(ns, div));
    }
    let mut out = String::new();
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s_ns = ns % 60_000_000_000;
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", frac_str(s_ns, 1_000_000_000)));
    out
}

fn frac_str(v: u128, div: u128) -> String {
    let int = v / div;
    let rem = v % div;
    if rem == 0 {
        return int.to_string();
    }
    let width = div.to_string().len() - 1;
    let frac = format!("{rem:0width$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 10, 32)` with its error texts.
pub(crate) fn parse_go_i32(s: &str) -> Result<i64, String> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty()
        || !body.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        || body.contains('_')
    {
        return Err(format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    match s.parse::<i64>() {
        Ok(v) if (i32::MIN as i64..=i32::MAX as i64).contains(&v) => Ok(v),
        _ => Err(format!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(s)
        )),
    }
}

/// docker's `units.RAMInBytes`: `64m`, `1.5GiB`, `1024` (binary multipliers).
pub(crate) fn ram_in_bytes(s: &str) -> Option<i64> {
    let num_len = s
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (num, rest) = s.split_at(num_len);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let mut mult: f64 = 1.0;
    if let Some(c) = chars.peek().copied() {
        let m = match c.to_ascii_lowercase() {
            'k' => Some(1024f64),
            'm' => Some(1024f64.powi(2)),
            'g' => Some(1024f64.powi(3)),
            't' => Some(1024f64.powi(4)),
            'p' => Some(1024f64.powi(5)),
            _ => None,
        };
        if let Some(m) = m {
            mult = m;
            chars.next();
        }
    }
    let tail: String = chars.collect();
    if !matches!(tail.to_lowercase().as_str(), "" | "b" | "ib" | "i") {
        return None;
    }
    Some((value * mult) as i64)
}

/// moby's `signal.ParseSignal`: a number or a name with or without `SIG` (Linux table).
pub(crate) fn parse_signal(raw: &str) -> Result<u32, String> {
    if let Ok(n) = raw.parse::<i64>() {
        if n <= 0 {
            return Err(format!("Invalid signal: {raw}"));
        }
        return Ok(n as u32);
    }
    let name = raw.strip_prefix("SIG").unwrap_or(raw);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("Invalid signal: {raw}"))
}

const SIGNALS: &[(&str, u32)] = &[
    ("ABRT", 6),
    ("ALRM", 14),
    ("BUS", 7),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("FPE", 8),
    ("HUP", 1),
    ("ILL", 4),
    ("INT", 2),
    ("IO", 29),
    ("IOT", 6),
    ("KILL", 9),
    ("PIPE", 13),
    ("POLL", 29),
    ("PROF", 27),
    ("PWR", 30),
    ("QUIT", 3),
    ("SEGV", 11),
    ("STKFLT", 16),
    ("STOP", 19),
    ("SYS", 31),
    ("TERM", 15),
    ("TRAP", 5),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("USR1", 10),
    ("USR2", 12),
    ("VTALRM", 26),
    ("WINCH", 28),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("RTMIN", 34),
    ("RTMIN+1", 35),
    ("RTMIN+2", 36),
    ("RTMIN+3", 37),
    ("RTMIN+4", 38),
    ("RTMIN+5", 39),
    ("RTMIN+6", 40),
    ("RTMIN+7", 41),
    ("RTMIN+8", 42),
    ("RTMIN+9", 43),
    ("RTMIN+10", 44),
    ("RTMIN+11", 45),
    ("RTMIN+12", 46),
    ("RTMIN+13", 47),
    ("RTMIN+14", 48),
    ("RTMIN+15", 49),
    ("RTMAX-14", 50),
    ("RTMAX-13", 51),
    ("RTMAX-12", 52),
    ("RTMAX-11", 53),
    ("RTMAX-10", 54),
    ("RTMAX-9", 55),
    ("RTMAX-8", 56),
    ("RTMAX-7", 57),
    ("RTMAX-6", 58),
    ("RTMAX-5", 59),
    ("RTMAX-4", 60),
    ("RTMAX-3", 61),
    ("RTMAX-2", 62),
    ("RTMAX-1", 63),
    ("RTMAX", 64),
];

/// Go's `encoding/csv` reading of one line (as `go-csvvalue.Fields`): comma separated,
/// fields may be double-quoted with `""` as an escaped quote.
pub(crate) fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    let col = |pos: usize| pos + 1;
    let mut pos = 0usize;
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            pos += 1;
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                            col(pos)
                        ))
                    }
                    Some('"') => {
                        pos += 1;
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            pos += 1;
                            field.push('"');
                        } else {
                            break;
                        }
                    }
                    Some(c) => {
                        pos += 1;
                        field.push(c);
                    }
                }
            }
            match chars.next() {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => {
                    pos += 1;
                    out.push(field);
                }
                Some(_) => {
                    return Err(format!(
                    "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                    col(pos)
                ))
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field);
                        return Ok(out);
                    }
                    Some(',') => {
                        pos += 1;
                        out.push(field);
                        break;
                    }
                    Some('"') => {
                        return Err(format!(
                            "parse error on line 1, column {}: bare \" in non-quoted-field",
                            col(pos)
                        ))
                    }
                    Some(c) => {
                        pos += 1;
                        field.push(c);
                    }
                }
            }
        }
    }
}

/// Go's `path.Clean`.
pub(crate) fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// BuildKit's `system.NormalizeWorkdir` for Linux: a relative path joins the current one.
pub(crate) fn normalize_workdir(current: &str, wd: &str) -> String {
    let parent = if current.is_empty() { "/" } else { current };
    let parent = if parent.starts_with('/') {
        parent.to_string()
    } else {
        clean_path(&format!("/{parent}"))
    };
    let wd = if wd.is_empty() { parent.as_str() } else { wd };
    if wd.starts_with('/') {
        wd.to_string()
    } else {
        clean_path(&format!("{parent}/{wd}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_go_duration("5s"), Ok((false, 5_000_000_000)));
        assert_eq!(parse_go_duration("1.5h"), Ok((false, 5_400_000_000_000)));
        assert_eq!(
            parse_go_duration("1h2m3s4ms"),
            Ok((false, 3_723_004_000_000))
        );
        assert_eq!(parse_go_duration("50ns"), Ok((false, 50)));
        assert_eq!(parse_go_duration("-1s"), Ok((true, 1_000_000_000)));
        assert_eq!(parse_go_duration("0"), Ok((false, 0)));
        assert_eq!(
            parse_go_duration("1"),
            Err("time: missing unit in duration \"1\"".into())
        );
        assert_eq!(
            parse_go_duration("1x"),
            Err("time: unknown unit \"x\" in duration \"1x\"".into())
        );
        assert_eq!(
            parse_go_duration("abc"),
            Err("time: invalid duration \"abc\"".into())
        );
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn helpers() {
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("1GiB"), Some(1 << 30));
        assert_eq!(ram_in_bytes("10"), Some(10));
        assert_eq!(ram_in_bytes("x"), None);
        assert_eq!(parse_signal("SIGKILL"), Ok(9));
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("NOPE"), Err("Invalid signal: NOPE".into()));
        assert_eq!(csv_fields("a,b=c").unwrap(), ["a", "b=c"]);
        assert_eq!(csv_fields("\"a,b\",c").unwrap(), ["a,b", "c"]);
        assert_eq!(csv_fields("\"a\"\"b\"").unwrap(), ["a\"b"]);
        assert!(csv_fields("a\"b").is_err());
        assert_eq!(clean_path("/a/../b/./c/"), "/b/c");
        assert_eq!(clean_path("../a"), "../a");
        assert_eq!(normalize_workdir("/", "app/"), "/app");
        assert_eq!(normalize_workdir("/a", "../b"), "/b");
        assert_eq!(normalize_workdir("/a", "/x/../y/"), "/x/../y/");
        assert_eq!(parse_go_i32("12"), Ok(12));
        assert_eq!(
            parse_go_i32("x"),
            Err("strconv.ParseInt: parsing \"x\": invalid syntax".into())
        );
        assert_eq!(
            parse_go_i32("99999999999"),
            Err("strconv.ParseInt: parsing \"99999999999\": value out of range".into())
        );
    }
}
