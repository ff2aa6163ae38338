//! One JSON object per line and per event, for CI: every object has `type`, `time` (RFC
//! 3339, UTC) and `elapsed` (seconds since the build started); step events also carry `id`,
//! `name`, `status` (`running`, `cached`, `done`, `error`) and `cached`; a finished step has
//! `started`, `completed` and `duration`; output lines are `{"type":"log","line":...}`. The
//! last object is `{"type":"result","image":...,"tags":[...]}` or `{"type":"failure",...}`.

use super::Outcome;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;
use strata_builder::solver::{Event, Progress};

struct StepInfo {
    name: String,
    started: DateTime<Utc>,
}

/// JSON lines on stderr.
pub struct Json {
    start: Instant,
    steps: Mutex<HashMap<usize, StepInfo>>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Json {
    /// Starts the clock.
    pub fn new() -> Json {
        Json {
            start: Instant::now(),
            steps: Mutex::new(HashMap::new()),
        }
    }

    fn emit(&self, kind: &str, fields: Value) {
        let mut obj = Map::new();
        obj.insert("type".into(), kind.into());
        obj.insert("time".into(), rfc3339(Utc::now()).into());
        obj.insert(
            "elapsed".into(),
            json!((self.start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
        );
        if let Value::Object(more) = fields {
            obj.extend(more);
        }
        let line = format!("{}\n", Value::Object(obj));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    /// The last object: the image and its names, or the failure.
    pub fn finish(&self, outcome: &Outcome<'_>) {
        match outcome {
            Outcome::Built { id, tags } => self.emit("result", json!({"image": id, "tags": tags})),
            Outcome::Failed(message) => self.emit("failure", json!({"error": message})),
        }
    }

    /// A step event: its id, name and status, with start and end times once finished.
    fn step(&self, id: usize, status: &str, seconds: Option<f64>) {
        let now = Utc::now();
        let steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        let Some(info) = steps.get(&id) else {
            return;
        };
        let mut fields = json!({
            "id": id,
            "name": info.name,
            "status": status,
            "cached": status == "cached",
            "started": rfc3339(info.started),
        });
        if status != "running" {
            let duration = seconds.unwrap_or_else(|| {
                (now - info.started).num_microseconds().unwrap_or(0) as f64 / 1e6
            });
            fields["completed"] = rfc3339(now).into();
            fields["duration"] = json!((duration * 1000.0).round() / 1000.0);
        }
        drop(steps);
        self.emit("step", fields);
    }

    fn name(&self, id: usize) -> String {
        self.steps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }
}

impl Progress for Json {
    fn event(&self, event: Event) {
        match event {
            Event::Step { id, name } => {
                self.steps.lock().unwrap_or_else(|e| e.into_inner()).insert(
                    id,
                    StepInfo {
                        name,
                        started: Utc::now(),
                    },
                );
                self.step(id, "running", None);
            }
            Event::Cached { id } => self.step(id, "cached", None),
            Event::Done { id, seconds } => self.step(id, "done", Some(seconds)),
            Event::Error { id, message } => {
                self.step(id, "error", None);
                self.emit(
                    "error",
                    json!({"id": id, "name": self.name(id), "message": message}),
                );
            }
            Event::Output { id, line } => self.emit(
                "log",
                json!({"id": id, "name": self.name(id), "line": line}),
            ),
            Event::Explain { id, reason } => self.emit(
                "cache-miss",
                json!({"id": id, "name": self.name(id), "reason": reason}),
            ),
            Event::Warning(text) => self.emit("warning", json!({"message": text.trim_end()})),
        }
    }
}
