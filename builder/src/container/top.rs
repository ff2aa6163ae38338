//! `top`: the processes of a container's PID namespace, as `ps -ef` shows them.

use super::{ContainerError, ContainerStore, Result};
use std::fs;

/// docker's `top` columns.
pub const HEADER: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// One row per process of the container (host pids, as docker shows them), by pid.
pub fn top(containers: &ContainerStore, query: &str) -> Result<Vec<Vec<String>>> {
    let c = containers.find(query)?;
    if !c.is_running() || c.state.pid == 0 {
        return Err(ContainerError::Invalid(format!(
            "Container {} is not running",
            c.id()
        )));
    }
    let ns_of = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let target = ns_of(&c.state.pid.to_string())
        .ok_or_else(|| ContainerError::Invalid(format!("Container {} is not running", c.id())))?;
    let tick = clock_ticks();
    let boot = boot_time();
    let users = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let mut rows: Vec<(i32, Vec<String>)> = Vec::new();
    for entry in fs::read_dir("/proc")
        .map_err(ContainerError::io("read /proc"))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<i32>() else {
            continue;
        };
        if ns_of(&name).as_ref() != Some(&target) {
            continue;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name in parentheses (which may contain spaces).
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let ppid = num(1);
        let tty_nr = num(4);
        let cpu_secs = (num(11) + num(12)) / tick;
        let start = boot + num(19) / tick;
        let uid = fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(String::from))
            })
            .unwrap_or_default();
        let user = users
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|p| p.len() > 2 && p[2] == uid)
            .map(|p| p[0].to_string())
            .unwrap_or(uid);
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let mut cmd = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        if cmd.is_empty() {
            let comm = stat
                .split_once('(')
                .and_then(|(_, r)| r.rsplit_once(')'))
                .map(|(c, _)| c);
            cmd = format!("[{}]", comm.unwrap_or(""));
        }
        let tty = if tty_nr == 0 {
            "?".to_string()
        } else {
            let major = (tty_nr >> 8) & 0xfff;
            let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
            if (136..=143).contains(&major) {
                format!("pts/{}", (major - 136) * 256 + minor)
            } else {
                format!("tty{minor}")
            }
        };
        let stime = chrono::DateTime::from_timestamp(start as i64, 0)
            .map(|t| t.with_timezone(&chrono::Local).format("%H:%M").to_string())
            .unwrap_or_default();
        let time = format!(
            "{:02}:{:02}:{:02}",
            cpu_secs / 3600,
            cpu_secs / 60 % 60,
            cpu_secs % 60
        );
        rows.push((
            pid,
            vec![
                user,
                pid.to_string(),
                ppid.to_string(),
                "0".into(),
                stime,
                tty,
                time,
                cmd,
            ],
        ));
    }
    rows.sort_by_key(|r| r.0);
    Ok(rows.into_iter().map(|r| r.1).collect())
}

/// Kernel clock ticks per second (`sysconf(_SC_CLK_TCK)`: 100 on every Linux ABI).
fn clock_ticks() -> u64 {
    100
}

/// Boot time in seconds since the epoch, from /proc/stat.
fn boot_time() -> u64 {
    fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse().ok()))
        })
        .unwrap_or(0)
}
