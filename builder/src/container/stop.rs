//! `stop`, `kill`, `restart`: signals to the container's process (PID 1 of its namespace,
//! whose death ends every process of the container).

use super::{pause, Container, ContainerError, ContainerStore, Result, Status};
use rustix::process::{Pid, Signal};
use std::time::{Duration, Instant};

/// Parses a signal as docker does: `TERM`, `SIGTERM`, `15`, `sigkill`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => {
            return Err(ContainerError::Invalid(format!("Invalid signal: {s}")));
        }
    };
    Ok(n)
}

fn send(c: &Container, signal: i32) -> Result<()> {
    let sig = Signal::from_named_raw(signal)
        .ok_or_else(|| ContainerError::Invalid(format!("Invalid signal: {signal}")))?;
    let pid = Pid::from_raw(c.state.pid)
        .ok_or_else(|| ContainerError::Invalid(format!("Container {} is not running", c.id())))?;
    rustix::process::kill_process(pid, sig)
        .map_err(|e| ContainerError::Io(format!("kill {signal} {pid:?}"), e.into()))
}

/// Forwards `signal` to a running container's process without marking the end as asked
/// for (docker's signal proxy of an attached `run`/`start -a`: the restart policy applies).
pub fn proxy_signal(
    containers: &ContainerStore,
    id: &strata_cache::ContainerId,
    signal: i32,
) -> Result<()> {
    let c = containers.get(id)?;
    if !c.is_running() || c.state.pid == 0 {
        return Ok(());
    }
    send(&c, signal)
}

/// Marks the end as asked for (no restart), thaws a paused container (a frozen process
/// cannot act on a signal).
fn prepare(containers: &ContainerStore, c: &Container) -> Result<()> {
    containers.update_state(c.id(), |s| {
        s.stopped_by_user = true;
        Ok(())
    })?;
    if c.state.status == Status::Paused {
        let _ = pause::unpause(containers, &c.id().hex());
    }
    Ok(())
}

/// `kill [-s SIG]`: sends the signal (default SIGKILL) to a running container.
pub fn kill(containers: &ContainerStore, query: &str, signal: Option<&str>) -> Result<()> {
    let signal = parse_signal(signal.unwrap_or("KILL"))?;
    let c = containers.find(query)?;
    if !c.is_running() || c.state.pid == 0 {
        return Err(ContainerError::Invalid(format!(
            "Cannot kill container: {query}: Container {} is not running",
            c.id()
        )));
    }
    prepare(containers, &c)?;
    send(&c, signal)?;
    // As docker does for SIGKILL: return once the container is recorded as stopped.
    if signal == 9 {
        wait_stopped(containers, &c, Duration::from_secs(10));
    }
    Ok(())
}

/// Waits until the monitor of `c` has recorded the end (or is gone); false on timeout.
fn wait_stopped(containers: &ContainerStore, c: &Container, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match containers.get(c.id()) {
            Ok(now) if now.is_running() => {}
            // Exited, or removed (--rm).
            _ => {
                // The monitor also finishes its work (cgroup, --rm) before it lets go.
                while containers.monitor_alive(c.id()).unwrap_or(false) {
                    if Instant::now() > deadline + Duration::from_secs(10) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `stop [-t SECS]`: the image's STOPSIGNAL (default SIGTERM), then SIGKILL after
/// `timeout` (default 10 s). A container that is not running is left as it is.
pub fn stop(containers: &ContainerStore, query: &str, timeout: Option<u64>) -> Result<()> {
    let c = containers.find(query)?;
    if !c.is_running() {
        return Ok(());
    }
    prepare(containers, &c)?;
    if c.state.pid == 0 {
        // Restarting: the monitor sees the mark before it starts the process again.
        wait_stopped(containers, &c, Duration::from_secs(30));
        return Ok(());
    }
    let signal = if c.config.stop_signal.is_empty() {
        15
    } else {
        parse_signal(&c.config.stop_signal)?
    };
    // The process may end between the lookup and the signal.
    let _ = send(&c, signal);
    if wait_stopped(containers, &c, Duration::from_secs(timeout.unwrap_or(10))) {
        return Ok(());
    }
    let _ = send(&c, 9);
    if wait_stopped(containers, &c, Duration::from_secs(30)) {
        Ok(())
    } else {
        Err(ContainerError::Invalid(format!(
            "container {} did not stop after SIGKILL",
            c.id()
        )))
    }
}
