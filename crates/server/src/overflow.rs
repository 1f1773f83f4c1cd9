//! Events the queue could not take: counted at once, and logged one line each by a
//! thread of their own.
//!
//! Written from a request handler, those lines would put standard error on the hot
//! path: when it blocks (a log collector falling behind, a pipe nobody reads) every
//! tokio worker soon waits in a write, and the server stops answering clicks and
//! `/healthz` alike. Here a handler only counts the events and offers them to a
//! bounded queue; what that queue has no room for stays counted, and the logging
//! thread says in one line how many lines it had to leave out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use hashbeacon::Event;
use hashbeacon_store::Health;

/// Most events waiting for their log line.
pub(crate) const LOG_QUEUE: usize = 10_000;

/// Where handlers report events they could not queue.
#[derive(Debug)]
pub(crate) struct Overflow {
    health: Arc<Health>,
    lines: SyncSender<(Event, Arc<str>)>,
    /// Events counted whose lines found no room in the logging queue.
    unlogged: Arc<AtomicU64>,
}

/// The logging thread; it ends once every [`Overflow`] is dropped and the queue is
/// written out.
#[derive(Debug)]
pub(crate) struct OverflowLog(JoinHandle<()>);

impl Overflow {
    /// A reporter and the thread that writes its lines to standard error.
    pub(crate) fn start(health: Arc<Health>, capacity: usize) -> (Self, OverflowLog) {
        Self::start_writing(health, capacity, std::io::stderr)
    }

    fn start_writing<W, F>(health: Arc<Health>, capacity: usize, output: F) -> (Self, OverflowLog)
    where
        W: std::io::Write,
        F: FnOnce() -> W + Send + 'static,
    {
        let (lines, queued) = std::sync::mpsc::sync_channel(capacity.max(1));
        let unlogged = Arc::new(AtomicU64::new(0));
        let thread = {
            let unlogged = Arc::clone(&unlogged);
            std::thread::spawn(move || write_lines(&queued, &unlogged, output()))
        };
        (
            Self {
                health,
                lines,
                unlogged,
            },
            OverflowLog(thread),
        )
    }

    /// Counts `events` as not queued and hands them to the logging thread, never
    /// waiting.
    pub(crate) fn report(&self, events: Vec<Event>, reason: &dyn std::fmt::Display) {
        let count = u64::try_from(events.len()).unwrap_or(u64::MAX);
        self.health.count_not_queued(count, reason);
        let reason: Arc<str> = reason.to_string().into();
        for event in events {
            match self.lines.try_send((event, Arc::clone(&reason))) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.unlogged.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

impl OverflowLog {
    /// Waits until every line queued is written (after every [`Overflow`] is dropped).
    pub(crate) fn finish(self) {
        if self.0.join().is_err() {
            crate::log(format_args!("the thread logging events not queued panicked"));
        }
    }
}

fn write_lines(queued: &Receiver<(Event, Arc<str>)>, unlogged: &AtomicU64, mut output: impl std::io::Write) {
    let left_out = |output: &mut dyn std::io::Write| {
        let missing = unlogged.swap(0, Ordering::Relaxed);
        if missing > 0 {
            let _ = writeln!(
                output,
                "hashbeacon-server: {missing} events not queued were counted but not logged: the log fell behind"
            );
        }
    };
    while let Ok((event, reason)) = queued.recv() {
        let _ = writeln!(output, "{}", Health::log_line(&event, &reason));
        for (event, reason) in queued.try_iter() {
            let _ = writeln!(output, "{}", Health::log_line(&event, &reason));
        }
        left_out(&mut output);
        let _ = output.flush();
    }
    left_out(&mut output);
    let _ = output.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashbeacon::Kind;
    use hashbeacon_store::load::template;
    use std::sync::{Condvar, Mutex};

    /// Whether the gate is open, and what was written through it.
    type Written = Mutex<(bool, Vec<u8>)>;

    /// An output that blocks every write until it is opened, as a full pipe does.
    #[derive(Clone, Default)]
    struct Gate(Arc<(Written, Condvar)>);

    impl Gate {
        fn open(&self) {
            let (state, opened) = &*self.0;
            state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0 = true;
            opened.notify_all();
        }

        fn text(&self) -> String {
            let state = self.0.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            String::from_utf8_lossy(&state.1).into_owned()
        }
    }

    impl std::io::Write for Gate {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let (state, opened) = &*self.0;
            let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            while !state.0 {
                state = opened
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            state.1.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_log_never_holds_up_the_reporter_and_every_event_is_counted() {
        let health = Arc::new(Health::default());
        let gate = Gate::default();
        let output = gate.clone();
        let (overflow, log) = Overflow::start_writing(Arc::clone(&health), 3, move || output);
        let event = template(Kind::Click, false);
        // The log is blocked: reporting must still return, however many events.
        for _ in 0..10 {
            overflow.report(vec![event.clone(), event.clone()], &"the event queue is full");
        }
        let report = health.report();
        assert_eq!(
            (report.events_not_queued, report.status.as_str()),
            (20, "degraded")
        );
        assert_eq!(report.last_error.as_deref(), Some("the event queue is full"));
        gate.open();
        drop(overflow);
        log.finish();
        let text = gate.text();
        let logged = text
            .lines()
            .filter(|line| line.starts_with("hashbeacon: event not stored"))
            .count();
        // The thread may hold one line it took while the queue filled behind it.
        assert!((3..=4).contains(&logged), "{logged} lines logged:\n{text}");
        assert!(
            text.contains(&format!(
                "{} events not queued were counted but not logged",
                20 - logged
            )),
            "{text}"
        );
        assert!(
            text.contains("(the event queue is full): click GET campaign=bench"),
            "{text}"
        );
    }

    #[test]
    fn every_event_is_logged_when_the_log_keeps_up() {
        let health = Arc::new(Health::default());
        let gate = Gate::default();
        gate.open();
        let output = gate.clone();
        let (overflow, log) = Overflow::start_writing(Arc::clone(&health), 1_000, move || output);
        let events: Vec<Event> = (0..100).map(|_| template(Kind::Open, false)).collect();
        overflow.report(events, &"the event queue is closed");
        drop(overflow);
        log.finish();
        let text = gate.text();
        assert_eq!(text.lines().count(), 100, "{text}");
        assert!(!text.contains("not logged"));
        assert_eq!(health.report().events_not_queued, 100);
    }
}
