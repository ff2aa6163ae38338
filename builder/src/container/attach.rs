//! The client side of attach (`run`, `start -a`, `attach`): the container's output to this
//! process's stdout/stderr, this process's stdin to the container, the terminal in raw mode
//! while attached to a tty container, and docker's detach keys Ctrl-P Ctrl-Q.

use super::monitor::SOCKET;
use super::protocol::{connect, Frame};
use super::{ContainerError, ContainerStore, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CTRL_P: u8 = 0x10;
const CTRL_Q: u8 = 0x11;

/// How an attach ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The container exited with this code.
    Exited(i32),
    /// The user pressed the detach keys; the container runs on.
    Detached,
    /// The monitor went away without an exit code (it was killed).
    Lost,
}

/// The terminal in raw mode until dropped.
pub struct RawTerminal {
    saved: Option<rustix::termios::Termios>,
}

impl RawTerminal {
    /// Puts stdin's terminal in raw mode, if stdin is a terminal.
    pub fn enable() -> RawTerminal {
        let stdin = rustix::stdio::stdin();
        if !rustix::termios::isatty(stdin) {
            return RawTerminal { saved: None };
        }
        let Ok(saved) = rustix::termios::tcgetattr(stdin) else {
            return RawTerminal { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(stdin, rustix::termios::OptionalActions::Now, &raw);
        RawTerminal { saved: Some(saved) }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                rustix::stdio::stdin(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}

/// Connects to the monitor of `query` (which must be running).
pub fn connect_to(
    containers: &ContainerStore,
    query: &str,
    stdin: bool,
) -> Result<(UnixStream, bool)> {
    let c = containers.find(query)?;
    if !c.is_running() {
        return Err(ContainerError::Invalid(
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    let mut s = connect(&c.dir(containers.store()), SOCKET)
        .map_err(ContainerError::io("connect to the container's monitor"))?;
    Frame::Hello { stdin }
        .write_to(&mut s)
        .map_err(ContainerError::io("attach"))?;
    Ok((s, c.config.tty))
}

/// Streams between this process and the container until it exits or the user detaches.
/// `stdin`: forward this process's stdin; `tty`: the container has a pty (the caller put
/// the terminal in raw mode), then the terminal size is sent and kept up to date.
pub fn stream(stream: UnixStream, stdin: bool, tty: bool) -> Result<AttachEnd> {
    let detached = Arc::new(AtomicBool::new(false));
    if stdin {
        let mut writer = stream.try_clone().map_err(ContainerError::io("attach"))?;
        let detached = detached.clone();
        let sock = stream.try_clone().map_err(ContainerError::io("attach"))?;
        std::thread::spawn(move || forward_stdin(&mut writer, &sock, &detached, tty));
    }
    if tty {
        let mut writer = stream.try_clone().map_err(ContainerError::io("attach"))?;
        std::thread::spawn(move || {
            let mut last = None;
            loop {
                if let Ok(ws) = rustix::termios::tcgetwinsize(rustix::stdio::stdout()) {
                    let size = (ws.ws_row, ws.ws_col);
                    if last != Some(size) && size.0 > 0 {
                        let f = Frame::Resize {
                            rows: size.0,
                            cols: size.1,
                        };
                        if f.write_to(&mut writer).is_err() {
                            return;
                        }
                        last = Some(size);
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
    }
    let mut reader = stream;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    loop {
        match Frame::read_from(&mut reader) {
            Ok(Some(Frame::Stdout(b))) => {
                let mut o = stdout.lock();
                let _ = o.write_all(&b).and_then(|_| o.flush());
            }
            Ok(Some(Frame::Stderr(b))) => {
                let mut e = stderr.lock();
                let _ = e.write_all(&b).and_then(|_| e.flush());
            }
            Ok(Some(Frame::Exit(code))) => return Ok(AttachEnd::Exited(code)),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                return Ok(if detached.load(Ordering::SeqCst) {
                    AttachEnd::Detached
                } else {
                    AttachEnd::Lost
                })
            }
        }
    }
}

/// This process's stdin to the container; Ctrl-P Ctrl-Q (with a tty) detaches.
fn forward_stdin(writer: &mut UnixStream, sock: &UnixStream, detached: &AtomicBool, tty: bool) {
    let mut input = std::io::stdin().lock();
    let mut buf = [0u8; 8192];
    let mut held_ctrl_p = false;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = Frame::StdinEof.write_to(writer);
                return;
            }
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n + 1);
        for &b in &buf[..n] {
            if !tty {
                out.push(b);
                continue;
            }
            if held_ctrl_p {
                held_ctrl_p = false;
                if b == CTRL_Q {
                    detached.store(true, Ordering::SeqCst);
                    let _ = sock.shutdown(std::net::Shutdown::Both);
                    return;
                }
                out.push(CTRL_P);
            }
            if b == CTRL_P {
                held_ctrl_p = true;
            } else {
                out.push(b);
            }
        }
        if !out.is_empty() && Frame::Stdin(out).write_to(writer).is_err() {
            return;
        }
    }
}
