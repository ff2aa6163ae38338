//! The per-container monitor (like conmon): the process that starts the container's
//! process, holds its pty or pipes, writes the log, serves attach clients on a unix socket,
//! records the exit code, applies the restart policy and, for `--rm`, removes the container.
//!
//! `strata` runs it by re-executing itself as the hidden `strata container-monitor ID`,
//! which starts a second copy in a new session and exits (a double fork without `fork`), so
//! the monitor outlives the command that started it. The monitor holds
//! [`MONITOR_LOCK`](super::MONITOR_LOCK) for its whole life: whoever finds that lock free
//! while the record says "running" knows the monitor died (the container's process dies
//! with it: `PR_SET_PDEATHSIG`) and records the container as exited.
//!
//! It tells its starter how the start went on a pipe (its standard output), one line:
//! `listening` (with `attach_first`: connect now, the process starts once a client is
//! there), then `started PID` or `error CODE MESSAGE`.

use super::logs::LogWriter;
use super::protocol::{short_socket_path, Frame};
use super::start::run_spec;
use super::{
    network, pause, Container, ContainerError, ContainerStore, RestartPolicy, Result, Status,
};
use crate::sandbox::{self, ContainerStdio, Runtime, Sandbox, SandboxError};
use chrono::Utc;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_cache::{ContainerId, Store};

/// The attach socket in the container's directory.
pub const SOCKET: &str = "monitor.sock";
/// The monitor's pid, for `ps` and debugging.
pub const PID_FILE: &str = "monitor.pid";
/// The monitor's own diagnostics.
pub const MONITOR_LOG: &str = "monitor.log";

/// Puts this process in a session of its own (the monitor must not get the starter's
/// terminal signals).
pub fn new_session() -> Result<()> {
    rustix::process::setsid()
        .map(drop)
        .map_err(|e| ContainerError::Io("setsid".into(), e.into()))
}

/// Points this process's standard output at `to` (the starter's pipe is kept as the
/// report descriptor).
pub fn redirect_stdout(to: &File) -> Result<()> {
    rustix::stdio::dup2_stdout(to).map_err(|e| ContainerError::Io("dup2".into(), e.into()))
}

/// Attached clients and the container's input side.
#[derive(Default)]
struct Hub {
    clients: Mutex<Vec<UnixStream>>,
    stdin: Mutex<Option<File>>,
    pty: Mutex<Option<Arc<OwnedFd>>>,
    tty: bool,
}

impl Hub {
    fn broadcast(&self, frame: &Frame) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain_mut(|c| frame.write_to(c).is_ok());
    }

    /// Registers a client: reads its hello, then forwards its input on a thread.
    fn add(self: &Arc<Self>, mut stream: UnixStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let wants_stdin = match Frame::read_from(&mut stream) {
            Ok(Some(Frame::Hello { stdin })) => stdin,
            _ => return,
        };
        let _ = stream.set_read_timeout(None);
        // A client that stops reading must not stall the container's output for long.
        let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
        let Ok(writer) = stream.try_clone() else {
            return;
        };
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(writer);
        if !wants_stdin {
            return;
        }
        let hub = self.clone();
        std::thread::spawn(move || {
            while let Ok(Some(frame)) = Frame::read_from(&mut stream) {
                match frame {
                    Frame::Stdin(bytes) => {
                        let mut stdin = hub.stdin.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(w) = stdin.as_mut() {
                            if w.write_all(&bytes).is_err() {
                                *stdin = None;
                            }
                        }
                    }
                    Frame::StdinEof if !hub.tty => {
                        *hub.stdin.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    }
                    Frame::Resize { rows, cols } => {
                        if let Some(pty) =
                            hub.pty.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
                        {
                            let size = rustix::termios::Winsize {
                                ws_row: rows,
                                ws_col: cols,
                                ws_xpixel: 0,
                                ws_ypixel: 0,
                            };
                            let _ = rustix::termios::tcsetwinsize(&**pty, size);
                        }
                    }
                    _ => {}
                }
            }
        });
    }
}

/// Runs the monitor of container `id` until the container ends for good (restart policy
/// done); returns its last exit code. `report` is the pipe to the starter (see the module
/// doc). The calling thread must stay the one that waits: the container's process dies
/// with it.
pub fn run(store: Store, id: ContainerId, attach_first: bool, mut report: File) -> Result<i32> {
    let containers = ContainerStore::new(store.clone());
    let dir = store.container_dir(&id);
    let Some(_alive) = store.try_container_flock(&id, super::MONITOR_LOCK, true)? else {
        let msg = format!("container {id} is already running");
        let _ = writeln!(report, "error {msg}");
        return Err(ContainerError::Invalid(msg));
    };
    // However the monitor ends (even when the record vanished under it), the container's
    // cgroup goes with it.
    let _cgroup = CgroupCleanup(id);
    std::fs::write(dir.join(PID_FILE), std::process::id().to_string())
        .map_err(ContainerError::io("write monitor.pid"))?;
    let (_dir_fd, sock) = short_socket_path(&dir, SOCKET)
        .map_err(ContainerError::io("open the container directory"))?;
    let _ = std::fs::remove_file(dir.join(SOCKET));
    let listener =
        UnixListener::bind(&sock).map_err(ContainerError::io("bind the attach socket"))?;
    let container = containers.get(&id)?;
    let hub = Arc::new(Hub {
        tty: container.config.tty,
        ..Hub::default()
    });
    if attach_first {
        let _ = writeln!(report, "listening");
        let _ = report.flush();
        // A starter that died before connecting must not keep the container from starting.
        listener
            .set_nonblocking(true)
            .map_err(ContainerError::io("attach socket"))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    hub.add(stream);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() > deadline {
                        tracing::warn!("no client attached within 30 s; starting anyway");
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(ContainerError::Io("accept the first client".into(), e)),
            }
        }
        listener
            .set_nonblocking(false)
            .map_err(ContainerError::io("attach socket"))?;
    }
    {
        let hub = hub.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let hub = hub.clone();
                std::thread::spawn(move || hub.add(stream));
            }
        });
    }
    let mut report = Some(report);
    let mut delay = Duration::from_millis(100);
    let code = loop {
        let container = containers.get(&id)?;
        let code = match run_once(&containers, &container, &hub, &mut report) {
            Ok(code) => code,
            Err(code) => break code,
        };
        let state = containers.get(&id)?.state;
        let again = !state.stopped_by_user
            && match container.config.restart {
                RestartPolicy::No => false,
                RestartPolicy::Always => true,
                RestartPolicy::OnFailure { max_retries } => {
                    code != 0 && (max_retries == 0 || state.restart_count < max_retries)
                }
            };
        if !again {
            break code;
        }
        containers.update_state(&id, |s| {
            s.status = Status::Restarting;
            s.restart_count += 1;
            Ok(())
        })?;
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(10));
        if containers.get(&id)?.state.stopped_by_user {
            containers.update_state(&id, |s| {
                s.status = Status::Exited;
                Ok(())
            })?;
            break code;
        }
    };
    pause::thaw_and_remove_cgroup(&id);
    if container.config.auto_remove {
        if let Err(e) = super::remove::remove_dirs_and_record(&store, &id) {
            tracing::warn!("remove container {id}: {e}");
        }
    } else {
        let _ = std::fs::remove_file(dir.join(SOCKET));
        let _ = std::fs::remove_file(dir.join(PID_FILE));
    }
    hub.broadcast(&Frame::Exit(code));
    for c in hub.clients.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = c.shutdown(std::net::Shutdown::Both);
    }
    Ok(code)
}

/// Removes a container's cgroup when dropped.
struct CgroupCleanup(ContainerId);

impl Drop for CgroupCleanup {
    fn drop(&mut self) {
        pause::thaw_and_remove_cgroup(&self.0);
    }
}

/// One run of the process. `Ok(code)` when it ran and ended; `Err(code)` when it could
/// not start (recorded, and reported to the starter).
fn run_once(
    containers: &ContainerStore,
    c: &Container,
    hub: &Arc<Hub>,
    report: &mut Option<File>,
) -> std::result::Result<i32, i32> {
    let store = containers.store();
    let id = *c.id();
    let fail = |e: ContainerError, report: &mut Option<File>| {
        let code = match &e {
            ContainerError::Sandbox(SandboxError::Exec { source, .. }) => {
                if source.kind() == std::io::ErrorKind::PermissionDenied {
                    126
                } else {
                    127
                }
            }
            _ => 128,
        };
        let msg = e.to_string();
        let _ = containers.update_state(&id, |s| {
            s.status = if s.started_at.is_some() {
                Status::Exited
            } else {
                Status::Created
            };
            s.exit_code = code;
            s.error = msg.clone();
            s.pid = 0;
            s.monitor_pid = 0;
            Ok(())
        });
        if let Some(mut r) = report.take() {
            let _ = writeln!(r, "error {code} {}", msg.replace('\n', " "));
        }
        code
    };
    let spec = match run_spec(store, c) {
        Ok(s) => s,
        Err(e) => return Err(fail(e, report)),
    };
    let (stdio, outputs) = match open_stdio(c, hub) {
        Ok(x) => x,
        Err(e) => return Err(fail(e, report)),
    };
    let mut spec = spec;
    if stdio.tty {
        // The pty is the host's: bound on /dev/console (as runc does), `ttyname` finds it.
        use std::os::fd::AsRawFd;
        if let Ok(slave) = std::fs::read_link(format!("/proc/self/fd/{}", stdio.stdin.as_raw_fd()))
        {
            spec.mounts.insert(
                0,
                crate::sandbox::Mount {
                    destination: "/dev/console".into(),
                    kind: crate::sandbox::MountKind::Bind {
                        source: slave,
                        readonly: false,
                    },
                },
            );
        }
    }
    let mut stdio = stdio;
    // The container's cgroup: its limits, stats, OOM record and freezer. Without cgroups
    // a container with no limits runs without one (pause then says why it cannot).
    let cgroup = match crate::cgroup::Cgroup::create(&id.hex(), &c.config.resources) {
        Ok(cg) => cg,
        Err(e) => return Err(fail(ContainerError::Invalid(e.to_string()), report)),
    };
    if let Some(cg) = &cgroup {
        stdio.cgroup_procs = cg.procs_files();
    }
    let wired = match network::wire(store, c) {
        Ok(w) => w,
        Err(e) => return Err(fail(e, report)),
    };
    if let Some(w) = &wired {
        spec.network = crate::sandbox::NetworkMode::Join(w.netns_path());
        match network::hosts(store, c) {
            Ok(h) => spec.hosts = h,
            Err(e) => {
                network::unwire(store, c, wired.expect("wired"));
                return Err(fail(e, report));
            }
        }
    }
    let sandbox = Sandbox::new(Runtime::Embedded).with_state_dir(c.dir(store).join("run"));
    let started = match sandbox.start(&spec, stdio) {
        Ok(s) => s,
        Err(e) => {
            *hub.stdin.lock().unwrap_or_else(|e| e.into_inner()) = None;
            if let Some(w) = wired {
                network::unwire(store, c, w);
            }
            return Err(fail(e.into(), report));
        }
    };
    let pid = started.pid();
    let recorded = containers.update_state(&id, |s| {
        s.status = Status::Running;
        s.pid = pid;
        s.monitor_pid = std::process::id() as i32;
        s.started_at = Some(Utc::now());
        s.finished_at = None;
        s.error.clear();
        Ok(())
    });
    if let Err(e) = recorded {
        tracing::warn!("record container {id} as running: {e}");
    }
    if let Some(w) = &wired {
        // The others on its networks learn its name.
        for n in w.network_ids() {
            network::refresh(containers, &n);
        }
    }
    if let Some(mut r) = report.take() {
        let _ = writeln!(r, "started {pid}");
    }
    let log = Arc::new(Mutex::new(LogWriter::open(&c.log_path(store)).ok()));
    let pumps: Vec<_> = outputs
        .into_iter()
        .map(|(stream, fd)| {
            let hub = hub.clone();
            let log = log.clone();
            std::thread::spawn(move || pump(stream, fd, &hub, &log))
        })
        .collect();
    // A container whose record disappeared under it (its store deleted) must not run on
    // forever: the watchdog kills it. Through a pidfd, so never another process.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Ok(pidfd) = started.pidfd().try_clone_to_owned() {
        let done = done.clone();
        let record = c.dir(store).join("container.json");
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if !record.exists() {
                    tracing::warn!("{} is gone: killing the container", record.display());
                    let _ =
                        rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    }
    let status = started.wait();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for p in pumps {
        let _ = p.join();
    }
    if let Some(l) = log.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        l.finish();
    }
    *hub.stdin.lock().unwrap_or_else(|e| e.into_inner()) = None;
    *hub.pty.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let code = match status {
        Ok(s) => s.code(),
        Err(e) => {
            tracing::warn!("container {id}: {e}");
            137
        }
    };
    let oom = cgroup.as_ref().is_some_and(|cg| cg.oom_killed());
    if let Some(w) = wired {
        network::unwire(store, c, w);
    }
    let _ = containers.update_state(&id, |s| {
        s.status = Status::Exited;
        s.oom_killed = oom;
        s.exit_code = code;
        s.pid = 0;
        s.finished_at = Some(Utc::now());
        Ok(())
    });
    Ok(code)
}

/// The process's standard streams and the read ends of its output (stream 0 stdout, 1
/// stderr): a pty with `-t`, else pipes (stdin a pipe with `-i`, else /dev/null).
fn open_stdio(c: &Container, hub: &Hub) -> Result<(ContainerStdio, Vec<(usize, OwnedFd)>)> {
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| ContainerError::Io("pipe".into(), e.into()))
    };
    if c.config.tty {
        let (master, slave) = sandbox::open_pty()?;
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(ContainerError::io("dup the pty"));
        let master = Arc::new(master);
        let reader = dup(&master)?;
        if c.config.open_stdin {
            *hub.stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(File::from(dup(&master)?));
        }
        *hub.pty.lock().unwrap_or_else(|e| e.into_inner()) = Some(master);
        let stdio = ContainerStdio {
            stdin: dup(&slave)?,
            stdout: dup(&slave)?,
            stderr: slave,
            tty: true,
            cgroup_procs: Vec::new(),
        };
        return Ok((stdio, vec![(0, reader)]));
    }
    let stdin = if c.config.open_stdin {
        let (r, w) = pipe()?;
        *hub.stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(File::from(w));
        r
    } else {
        File::open("/dev/null")
            .map_err(ContainerError::io("open /dev/null"))?
            .into()
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let stdio = ContainerStdio {
        stdin,
        stdout: out_w,
        stderr: err_w,
        tty: false,
        cgroup_procs: Vec::new(),
    };
    Ok((stdio, vec![(0, out_r), (1, err_r)]))
}

/// Copies one output of the process to the log and the attached clients until it ends.
fn pump(stream: usize, fd: OwnedFd, hub: &Hub, log: &Mutex<Option<LogWriter>>) {
    let mut src = File::from(fd);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match src.read(&mut buf) {
            Ok(0) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: the pty's last slave descriptor closed.
            Err(_) => break,
            Ok(n) => {
                let bytes = &buf[..n];
                if let Some(l) = log.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                    l.write(stream, bytes);
                }
                hub.broadcast(&if stream == 0 {
                    Frame::Stdout(bytes.to_vec())
                } else {
                    Frame::Stderr(bytes.to_vec())
                });
            }
        }
    }
}
