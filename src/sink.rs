//! Stock event sinks: in memory, a bounded channel, a closure, and a fan-out.
//!
//! Real storage belongs to the host. The usual shape is a [`ChannelSink`] on the
//! request path and a consumer that drains the [`Receiver`] in batches into the
//! database; the request never waits for storage.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, PoisonError};

use crate::event::{Event, EventSink, SinkError};

/// Keeps events in memory: for tests and small tools.
///
/// ```
/// use hashbeacon::sink::MemorySink;
/// let sink = MemorySink::new();
/// assert!(sink.take().is_empty());
/// ```
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<Event>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes and returns the events recorded so far, oldest first.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.lock())
    }

    /// A copy of the events recorded so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// The number of events recorded so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no event has been recorded (or all were taken).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        // A panic elsewhere while holding the lock leaves a valid Vec: keep using it.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EventSink for MemorySink {
    fn record(&self, event: Event) -> Result<(), SinkError> {
        self.lock().push(event);
        Ok(())
    }
}

/// Hands events to a bounded [`std::sync::mpsc`] channel without ever blocking.
///
/// A full channel (the consumer is behind) or a closed one (the receiver is gone) is
/// an error carrying the event back, never a silent drop and never a wait. An async
/// host drains the receiver on a blocking task (e.g. `tokio::task::spawn_blocking`
/// looping on [`Receiver::recv`]) and writes batches to storage.
///
/// ```
/// use hashbeacon::sink::ChannelSink;
/// let (sink, events) = ChannelSink::new(1024);
/// std::thread::spawn(move || {
///     for event in events {
///         // store the event
///         # drop(event);
///     }
/// });
/// # drop(sink);
/// ```
#[derive(Debug, Clone)]
pub struct ChannelSink {
    sender: SyncSender<Event>,
}

impl ChannelSink {
    /// A sink and the receiver its events arrive on. `capacity` is the most events
    /// waiting at once; at least 1.
    pub fn new(capacity: usize) -> (Self, Receiver<Event>) {
        let (sender, receiver) = std::sync::mpsc::sync_channel(capacity.max(1));
        (Self { sender }, receiver)
    }
}

impl EventSink for ChannelSink {
    fn record(&self, event: Event) -> Result<(), SinkError> {
        self.sender.try_send(event).map_err(|error| match error {
            TrySendError::Full(event) => SinkError::Full(Box::new(event)),
            TrySendError::Disconnected(event) => SinkError::Closed(Box::new(event)),
        })
    }
}

/// A sink that calls a closure: see [`from_fn`].
#[derive(Clone, Copy, Debug)]
pub struct FnSink<F>(F);

/// Makes a sink of a closure. The closure must not block.
///
/// ```
/// use hashbeacon::sink;
/// let discard = sink::from_fn(|_event| Ok(()));
/// # let _: &dyn hashbeacon::EventSink = &discard;
/// ```
pub fn from_fn<F>(f: F) -> FnSink<F>
where
    F: Fn(Event) -> Result<(), SinkError> + Send + Sync,
{
    FnSink(f)
}

impl<F> EventSink for FnSink<F>
where
    F: Fn(Event) -> Result<(), SinkError> + Send + Sync,
{
    fn record(&self, event: Event) -> Result<(), SinkError> {
        (self.0)(event)
    }
}

/// Gives every event to several sinks, e.g. a metrics counter and a storage channel.
///
/// Every sink gets the event even when an earlier one fails; the failures come back
/// together.
///
/// ```
/// use hashbeacon::sink::{FanOut, MemorySink};
/// use std::sync::Arc;
/// let memory = Arc::new(MemorySink::new());
/// let fan_out = FanOut::new().with(memory.clone()).with(hashbeacon::sink::from_fn(|_| Ok(())));
/// assert_eq!(fan_out.len(), 2);
/// ```
#[derive(Default)]
pub struct FanOut {
    sinks: Vec<Box<dyn EventSink>>,
}

impl FanOut {
    /// A fan-out with no sinks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sink.
    pub fn with(mut self, sink: impl EventSink + 'static) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// The number of sinks.
    pub fn len(&self) -> usize {
        self.sinks.len()
    }

    /// Whether there is no sink.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl EventSink for FanOut {
    fn record(&self, event: Event) -> Result<(), SinkError> {
        let Some((last, rest)) = self.sinks.split_last() else {
            return Ok(());
        };
        let mut failures: Option<SinkError> = None;
        for sink in rest {
            failures = SinkError::join(failures, sink.record(event.clone()).err());
        }
        match SinkError::join(failures, last.record(event).err()) {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }
}
