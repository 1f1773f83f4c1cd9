//! Lines on standard error that cannot stop the server.

use std::fmt::Arguments;
use std::io::Write as _;

/// Writes `hashbeacon-server: {message}` as one line to standard error.
///
/// `eprintln!` panics when standard error is gone (a log collector that exited
/// leaves a closed pipe), which would end the thread that logs: the accept loop,
/// the retention task, or the shutdown that still has events to store. A line that
/// cannot be written is lost instead; the counters of `/healthz` still hold what
/// the lost lines said.
///
/// ```
/// hashbeacon_server::log(format_args!("retention: nothing to delete"));
/// ```
pub fn log(message: Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "hashbeacon-server: {message}");
}
