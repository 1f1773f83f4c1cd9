//! The HTTP/1 accept loop, with the two limits `axum::serve` does not offer: a
//! header-read timeout, and a deadline after which shutdown stops waiting for
//! connections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{AbortHandle, Id, JoinError, JoinSet};
use tower::Service as _;

/// How connections are served.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Close a connection that has not sent a whole request head within this time.
    pub(crate) header_read_timeout: Duration,
    /// After the stop signal, wait this long for requests in flight, then close.
    pub(crate) shutdown_deadline: Duration,
}

/// After the stop signal, how long idle connections get to close and answers to
/// finish flushing before connections with no request in a handler are closed.
const GRACE: Duration = Duration::from_millis(100);

/// A router as a responder: each request carries its peer as [`ConnectInfo`].
pub(crate) fn routed(
    router: Router,
) -> impl Fn(SocketAddr, hyper::Request<Incoming>) -> RouterFuture + Clone + Send + Sync + 'static {
    move |peer, mut request| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().call(request)
    }
}

/// What [`routed`] answers with.
type RouterFuture = <Router as tower::Service<hyper::Request<Incoming>>>::Future;

/// Serves `respond` (a function of the peer and the request) on `listener` until
/// `stop` changes (or its sender is dropped).
///
/// Then it stops accepting, closes idle connections and those still sending their
/// request head, lets requests in handlers finish, and at the deadline closes whatever
/// is left. When it returns, every connection, and with it every clone of `respond`,
/// is gone.
pub(crate) async fn serve<R, F>(
    listener: TcpListener,
    respond: R,
    limits: Limits,
    mut stop: watch::Receiver<()>,
) where
    R: Fn(SocketAddr, hyper::Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    // Per connection: how many of its requests are in a handler.
    let mut busy: HashMap<Id, (AbortHandle, Arc<AtomicUsize>)> = HashMap::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        crate::log(format_args!("accept failed: {error}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let respond = respond.clone();
                let in_handler = Arc::new(AtomicUsize::new(0));
                let counter = Arc::clone(&in_handler);
                let service = hyper::service::service_fn(move |request| {
                    handle(respond(peer, request), Arc::clone(&counter))
                });
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                let abort = connections.spawn(async move {
                    // A reset or timed-out connection is the client's business.
                    let _ = connection.await;
                });
                busy.insert(abort.id(), (abort, in_handler));
            }
            // Reap finished connections so the bookkeeping stays as small as the live ones.
            Some(done) = connections.join_next_with_id(), if !connections.is_empty() => {
                if let Some(id) = finished(done) {
                    busy.remove(&id);
                }
            }
        }
    }
    drop(listener);
    drop(respond);
    let closing = graceful.shutdown();
    let finished = tokio::time::timeout(limits.shutdown_deadline, async {
        // Idle connections close at once; a head still being sent would keep its
        // connection until the header-read timeout: close those now.
        tokio::time::sleep(GRACE.min(limits.shutdown_deadline)).await;
        for (abort, in_handler) in busy.values() {
            if in_handler.load(Ordering::Acquire) == 0 {
                abort.abort();
            }
        }
        while connections.join_next().await.is_some() {}
        closing.await;
    })
    .await;
    if finished.is_err() {
        crate::log(format_args!(
            "closing {} connection(s) still open after the {:?} shutdown deadline",
            connections.len(),
            limits.shutdown_deadline
        ));
        connections.shutdown().await;
    }
}

/// The id of a connection task that ended, however it ended.
fn finished(done: Result<(Id, ()), JoinError>) -> Option<Id> {
    match done {
        Ok((id, ())) => Some(id),
        Err(error) => Some(error.id()),
    }
}

/// Counts a request as in a handler for as long as it is, even if it is cancelled.
struct InHandler(Arc<AtomicUsize>);

impl InHandler {
    fn enter(counter: Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter)
    }
}

impl Drop for InHandler {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers one request, counted as in a handler until the answer is ready.
async fn handle<F>(
    answer: F,
    in_handler: Arc<AtomicUsize>,
) -> Result<axum::response::Response, std::convert::Infallible>
where
    F: Future<Output = Result<axum::response::Response, std::convert::Infallible>>,
{
    let _in_handler = InHandler::enter(in_handler);
    answer.await
}
