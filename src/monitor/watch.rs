//! Watching the inference-log folder and the labels folder, so ingestion runs when something
//! arrives instead of on a timer.
//!
//! [`watch`] starts one background thread that listens to `notify` (inotify on Linux, recursive)
//! and, as a fallback, polls: every `poll_interval` it takes a cheap signature of each folder
//! (names, sizes and modification times of its files, two levels deep). Events are debounced
//! per folder (a burst of writes becomes one event once `debounce` has passed since the first)
//! and sent as [`WatchEvent`]s on a `tokio::sync::mpsc::UnboundedSender` that the caller
//! passes in, so the TUI's event loop can `select!` on the receiver and the `Monitor` service
//! can block on it (`blocking_recv`). Sending never needs a runtime.
//!
//! **Fallback.** Polling takes over ([`WatchMode::Polling`]) when notify cannot start (no
//! inotify, watch limit reached) or when a poll sees a change notify did not report (network
//! and FUSE filesystems deliver no events); it then stays in polling mode. `poll_interval`
//! bounds the delay in that mode; with notify working the delay is the debounce.
//!
//! Dropping the [`Watcher`] (or calling [`Watcher::stop`]) stops the thread.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use notify::{EventKind, RecursiveMode, Watcher as _};
use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::error::{Error, Result};

/// Which watched folder changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Folder {
    Logs,
    Labels,
}

/// How a change was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    Notify,
    Polling,
}

/// Something changed in a folder: ingest it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchEvent {
    pub folder: Folder,
    pub path: PathBuf,
    /// How the change was seen.
    pub via: WatchMode,
}

/// Timing of the watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Quiet time after the first event of a burst before it is reported.
    pub debounce: Duration,
    /// How often folders are polled (always, to catch what notify misses).
    pub poll_interval: Duration,
    /// Poll only, never start notify.
    pub force_polling: bool,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            debounce: Duration::from_millis(50),
            poll_interval: Duration::from_secs(1),
            force_polling: false,
        }
    }
}

/// The running watcher; stops on drop.
pub struct Watcher {
    wake: mpsc::Sender<Raw>,
    mode: Arc<AtomicU8>,
    handle: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Notify, or polling once it took over.
    pub fn mode(&self) -> WatchMode {
        mode_of(self.mode.load(Ordering::Relaxed))
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.wake.send(Raw::Stop);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn mode_of(v: u8) -> WatchMode {
    if v == 0 {
        WatchMode::Notify
    } else {
        WatchMode::Polling
    }
}

enum Raw {
    Event(notify::Result<notify::Event>),
    Stop,
}

/// Watches `folders` (created if missing) and sends an event on `tx` for each debounced burst
/// of changes in one of them. Stops when the returned [`Watcher`] is dropped or `tx`'s receiver
/// is gone.
pub fn watch(
    folders: &[(Folder, PathBuf)],
    options: WatchOptions,
    tx: UnboundedSender<WatchEvent>,
) -> Result<Watcher> {
    let mut roots = Vec::new();
    for (folder, path) in folders {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let root = path.canonicalize().map_err(|e| Error::io(path, e))?;
        roots.push((*folder, root));
    }
    let (raw_tx, raw_rx) = mpsc::channel::<Raw>();
    let mode = Arc::new(AtomicU8::new(1));
    let mut notifier = None;
    if !options.force_polling {
        let events = raw_tx.clone();
        match notify::recommended_watcher(move |e| {
            let _ = events.send(Raw::Event(e));
        }) {
            Ok(mut w) => {
                let ok = roots
                    .iter()
                    .all(|(_, root)| match w.watch(root, RecursiveMode::Recursive) {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(path = %root.display(), error = %e, "watch: notify cannot watch; polling");
                            false
                        }
                    });
                if ok {
                    mode.store(0, Ordering::Relaxed);
                    notifier = Some(w);
                }
            }
            Err(e) => tracing::warn!(error = %e, "watch: notify unavailable; polling"),
        }
    }
    // Taken before returning, so that a change right after `watch` returns is seen.
    let signatures: Vec<u64> = roots.iter().map(|(_, r)| signature(r)).collect();
    let thread_mode = mode.clone();
    let handle = std::thread::Builder::new()
        .name("monitor-watch".into())
        .spawn(move || {
            // Keeps notify alive as long as the loop runs.
            let _notifier = notifier;
            run(roots, signatures, options, raw_rx, tx, thread_mode);
        })
        .map_err(|e| Error::io("watcher thread", e))?;
    Ok(Watcher {
        wake: raw_tx,
        mode,
        handle: Some(handle),
    })
}

fn run(
    roots: Vec<(Folder, PathBuf)>,
    mut signatures: Vec<u64>,
    options: WatchOptions,
    raw: mpsc::Receiver<Raw>,
    tx: UnboundedSender<WatchEvent>,
    mode: Arc<AtomicU8>,
) {
    // Per folder: when the first unreported change of the burst was seen, and how.
    let mut pending: BTreeMap<usize, (Instant, WatchMode)> = BTreeMap::new();
    // Per folder: notify reported something since the last poll.
    let mut notified = vec![false; roots.len()];
    // Per folder: a poll saw a change notify had not reported (yet).
    let mut suspect = vec![false; roots.len()];
    let mut next_poll = Instant::now() + options.poll_interval;
    loop {
        let now = Instant::now();
        let due = pending
            .values()
            .map(|(t, _)| *t + options.debounce)
            .min()
            .unwrap_or(next_poll)
            .min(next_poll);
        match raw.recv_timeout(due.saturating_duration_since(now)) {
            Ok(Raw::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Raw::Event(Ok(event))) => {
                if matches!(event.kind, EventKind::Access(_)) {
                    continue;
                }
                for p in &event.paths {
                    if let Some(i) = roots.iter().position(|(_, r)| p.starts_with(r)) {
                        notified[i] = true;
                        pending
                            .entry(i)
                            .or_insert((Instant::now(), WatchMode::Notify));
                    }
                }
            }
            Ok(Raw::Event(Err(e))) => {
                tracing::warn!(error = %e, "watch: notify error; polling");
                mode.store(1, Ordering::Relaxed);
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        if now >= next_poll {
            next_poll = now + options.poll_interval;
            for (i, (_, root)) in roots.iter().enumerate() {
                // A change notify missed for a whole poll interval: it does not work here.
                if suspect[i] && !notified[i] && mode.swap(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(path = %root.display(), "watch: notify missed a change; polling from now on");
                }
                suspect[i] = false;
                let s = signature(root);
                if s != signatures[i] {
                    signatures[i] = s;
                    if !notified[i] && !pending.contains_key(&i) {
                        suspect[i] = mode.load(Ordering::Relaxed) == 0;
                        pending.insert(i, (now - options.debounce, WatchMode::Polling));
                    }
                }
                notified[i] = false;
            }
        }
        let ready: Vec<usize> = pending
            .iter()
            .filter(|(_, (t, _))| now >= *t + options.debounce)
            .map(|(i, _)| *i)
            .collect();
        for i in ready {
            let (_, via) = pending.remove(&i).expect("listed above");
            let (folder, root) = &roots[i];
            let event = WatchEvent {
                folder: *folder,
                path: root.clone(),
                via,
            };
            if tx.send(event).is_err() {
                return;
            }
        }
    }
}

/// A hash of the names, sizes and modification times of the files under `root` (two levels).
fn signature(root: &Path) -> u64 {
    fn walk(dir: &Path, depth: usize, h: &mut std::collections::hash_map::DefaultHasher) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(meta) = e.metadata() else { continue };
            e.file_name().hash(h);
            if meta.is_dir() {
                if depth < 2 {
                    walk(&e.path(), depth + 1, h);
                }
            } else {
                meta.len().hash(h);
                meta.modified()
                    .ok()
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .hash(h);
            }
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    walk(root, 0, &mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<WatchEvent>) -> WatchEvent {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match rx.try_recv() {
                Ok(e) => return e,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("no watch event: {e}"),
            }
        }
    }

    #[test]
    fn reports_a_new_file_in_each_folder_by_notify_and_by_polling() {
        for force_polling in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let logs = dir.path().join("inference");
            let labels = dir.path().join("labels");
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let w = watch(
                &[
                    (Folder::Logs, logs.clone()),
                    (Folder::Labels, labels.clone()),
                ],
                WatchOptions {
                    debounce: Duration::from_millis(20),
                    // With notify on, no poll within the test: what is seen is notify's.
                    poll_interval: Duration::from_millis(if force_polling { 100 } else { 60_000 }),
                    force_polling,
                },
                tx,
            )
            .unwrap();
            let expected = if force_polling {
                WatchMode::Polling
            } else {
                WatchMode::Notify
            };
            std::fs::create_dir_all(logs.join("ep")).unwrap();
            std::fs::write(logs.join("ep/1-1-0000.jsonl"), "{}\n").unwrap();
            let e = next(&mut rx);
            assert_eq!((e.folder, e.via), (Folder::Logs, expected));
            std::fs::write(labels.join("a.csv"), "id,label\n1,1\n").unwrap();
            // A burst in the log folder may still be reported; wait for the labels event.
            let e = loop {
                let e = next(&mut rx);
                if e.folder == Folder::Labels {
                    break e;
                }
            };
            assert_eq!(e.via, expected);
            assert_eq!(w.mode(), expected);
            w.stop();
        }
    }
}
