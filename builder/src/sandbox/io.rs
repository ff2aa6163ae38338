//! The step's standard streams: pipes from the process, drained into the
//! caller's writers while the step runs.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use super::{Result, SandboxError};

type Writer<'a> = Box<dyn Write + Send + 'a>;

/// Where a step's stdout and stderr go. Stdin is always `/dev/null`, as in BuildKit.
pub struct StepIo<'a> {
    stdout: Option<Writer<'a>>,
    stderr: Option<Writer<'a>>,
    combined: bool,
}

impl std::fmt::Debug for StepIo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepIo")
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("combined", &self.combined)
            .finish()
    }
}

impl<'a> StepIo<'a> {
    /// Output is discarded.
    pub fn null() -> StepIo<'static> {
        StepIo {
            stdout: None,
            stderr: None,
            combined: false,
        }
    }

    /// Stdout and stderr go to separate writers, each as the bytes arrive.
    pub fn new(stdout: impl Write + Send + 'a, stderr: impl Write + Send + 'a) -> StepIo<'a> {
        StepIo {
            stdout: Some(Box::new(stdout)),
            stderr: Some(Box::new(stderr)),
            combined: false,
        }
    }

    /// Stdout and stderr share one pipe, so `out` sees them in the order the
    /// process wrote them (what a progress display wants). An external
    /// runtime may copy the two streams separately (runc does), losing that
    /// order between them.
    pub fn combined(out: impl Write + Send + 'a) -> StepIo<'a> {
        StepIo {
            stdout: Some(Box::new(out)),
            stderr: None,
            combined: true,
        }
    }

    /// Creates the pipes: the ends the process gets and the pump that drains
    /// the others. A discarded stream goes straight to `/dev/null`.
    pub(crate) fn open(self) -> Result<(ChildStdio, Pump<'a>)> {
        let devnull = |write: bool| {
            std::fs::OpenOptions::new()
                .read(!write)
                .write(write)
                .open("/dev/null")
                .map(OwnedFd::from)
                .map_err(|e| SandboxError::io("open /dev/null", e))
        };
        let (out_r, out_w) = match self.stdout {
            Some(_) => pipe()?,
            None => (None, devnull(true)?),
        };
        let (err_r, err_w) = if self.combined {
            let w = out_w
                .try_clone()
                .map_err(|e| SandboxError::io("dup pipe", e))?;
            (None, w)
        } else {
            match self.stderr {
                Some(_) => pipe()?,
                None => (None, devnull(true)?),
            }
        };
        let child = ChildStdio {
            stdin: devnull(false)?,
            stdout: out_w,
            stderr: err_w,
        };
        let pump = Pump {
            streams: vec![(out_r, self.stdout), (err_r, self.stderr)]
                .into_iter()
                .filter_map(|(r, w)| r.map(|r| (r, w)))
                .collect(),
        };
        Ok((child, pump))
    }
}

fn pipe() -> Result<(Option<OwnedFd>, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| SandboxError::io("pipe", e.into()))?;
    Ok((Some(r), w))
}

/// The descriptors the step's process gets as 0, 1 and 2.
#[derive(Debug)]
pub(crate) struct ChildStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// The read ends of the output pipes and their destinations.
pub(crate) struct Pump<'a> {
    streams: Vec<(OwnedFd, Option<Writer<'a>>)>,
}

impl Pump<'_> {
    /// Drains the pipes on threads of their own while `wait` runs, and
    /// returns when `wait` has returned and every pipe reached end of file.
    /// The parent's copies of the write ends must be closed before this.
    pub fn run<R>(self, wait: impl FnOnce() -> R) -> R {
        std::thread::scope(|scope| {
            for (fd, mut sink) in self.streams {
                scope.spawn(move || {
                    let mut pipe = File::from(fd);
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match pipe.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => {
                                // A failing writer must not stall the process: keep draining.
                                if let Some(w) = sink.as_mut() {
                                    if w.write_all(&buf[..n]).and_then(|_| w.flush()).is_err() {
                                        sink = None;
                                    }
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                });
            }
            wait()
        })
    }
}
