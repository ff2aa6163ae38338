//! EXPOSE port specs (BuildKit's `convert_expose.go`): `[ip:][hostPort:]port[-end][/proto]`
//! to `port/proto` entries.

use std::net::IpAddr;

/// One parsed EXPOSE word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortSpec {
    /// `port/proto` entries, one per port of a range.
    pub ports: Vec<String>,
    /// The protocol was not lower case (ExposeProtoCasing).
    pub proto_not_lower: bool,
    /// An IP or host port was given (ExposeInvalidFormat).
    pub has_host_part: bool,
}

pub(crate) fn parse_port(raw: &str) -> Result<PortSpec, String> {
    let (ip, host_port, container) = split_parts(raw);
    let (proto, container) = split_proto_port(&container)
        .map_err(|e| format!("invalid port: {}: {e}", super::values::go_quote(raw)))?;
    let mut ip = ip;
    if ip.starts_with('[') {
        match ip.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            Some(inner) => ip = inner.to_string(),
            None => return Err(format!("invalid IP address {ip}")),
        }
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    let (start, end) =
        port_range(&container).map_err(|_| format!("invalid containerPort: {container}"))?;
    if !host_port.is_empty() {
        let (hs, he) =
            port_range(&host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
        if end - start != he - hs && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container} and {host_port}"
            ));
        }
    }
    let lower = proto.to_lowercase();
    Ok(PortSpec {
        ports: (start..=end).map(|p| format!("{p}/{lower}")).collect(),
        proto_not_lower: proto != lower,
        has_host_part: !ip.is_empty() || !host_port.is_empty(),
    })
}

fn split_parts(raw: &str) -> (String, String, String) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.len() {
        1 => (String::new(), String::new(), parts[0].into()),
        2 => (String::new(), parts[0].into(), parts[1].into()),
        3 => (parts[0].into(), parts[1].into(), parts[2].into()),
        n => (
            parts[..n - 2].join(":"),
            parts[n - 2].into(),
            parts[n - 1].into(),
        ),
    }
}

fn split_proto_port(raw: &str) -> Result<(String, String), String> {
    let (port, proto) = raw.split_once('/').unwrap_or((raw, ""));
    if port.is_empty() {
        return Err("no port specified".into());
    }
    match proto.to_lowercase().as_str() {
        "" => Ok(("tcp".into(), port.into())),
        "tcp" | "udp" | "sctp" => Ok((proto.into(), port.into())),
        _ => Err(format!("invalid proto: {proto}")),
    }
}

fn port_range(s: &str) -> Result<(u32, u32), ()> {
    if s.is_empty() {
        return Err(());
    }
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let start = port_number(a)?;
    match b {
        None => Ok((start, start)),
        Some(b) if b == a => Ok((start, start)),
        Some(b) => {
            let end = port_number(b)?;
            if end < start {
                return Err(());
            }
            Ok((start, end))
        }
    }
}

fn port_number(s: &str) -> Result<u32, ()> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    match s.parse::<i64>() {
        Ok(v) if (0..=65535).contains(&v) => Ok(v as u32),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(parse_port("80").unwrap().ports, ["80/tcp"]);
        assert_eq!(parse_port("53/UDP").unwrap().ports, ["53/udp"]);
        assert!(parse_port("53/UDP").unwrap().proto_not_lower);
        assert_eq!(
            parse_port("8000-8002").unwrap().ports,
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert!(parse_port("127.0.0.1:80:80").unwrap().has_host_part);
        assert_eq!(
            parse_port("80/xyz").unwrap_err(),
            "invalid port: \"80/xyz\": invalid proto: xyz"
        );
        assert_eq!(parse_port("abc").unwrap_err(), "invalid containerPort: abc");
    }
}
