//! `hashbeacon`: generate keys, rewrite email bodies and inspect tracking URLs from the
//! command line.
//!
//! ```text
//! hashbeacon keygen [--id ID]            print a new signing key (one line)
//! hashbeacon keygen --pseudonym          print a new recipient pseudonym key
//! hashbeacon keygen … --out FILE [--force]
//!                                        write it to a new file of mode 0600 instead
//! hashbeacon rewrite --key FILE --base URL --campaign ID [--recipient ADDRESS] [--text | --message] [FILE]
//!                                        track a body's links: body on stdout, report on stderr
//! hashbeacon rewrite … --message --recipient ADDRESS --list-unsubscribe [--mailto ADDRESS]
//!                                        also add the recipient's List-Unsubscribe headers
//! hashbeacon inspect --key FILE URL      verify a click, open or unsubscribe URL, print JSON
//! hashbeacon unsubscribe --key FILE --base URL --campaign ID --recipient ADDRESS
//!                        --pseudonym-key FILE [--mailto ADDRESS]
//!                                        print the List-Unsubscribe headers (CRLF lines)
//! ```
//!
//! Exit codes: 0 success (for `inspect`: the URL is valid), 1 the inspected URL is not
//! valid, 2 the command could not run (bad usage, unreadable or malformed key file, …),
//! with one line on stderr saying why.

mod inspect;
mod keyfile;
mod keygen;
mod rewrite;
mod unsubscribe;

use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};

/// Email click and open tracking with signed URLs.
#[derive(Debug, Parser)]
#[command(name = "hashbeacon", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Keygen(keygen::Args),
    Rewrite(rewrite::Args),
    Inspect(inspect::Args),
    Unsubscribe(unsubscribe::Args),
}

/// Why a command could not run: shown as one line on stderr, exit code 2.
#[derive(Debug)]
struct Fatal(String);

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Exit code when a command could not run at all (the same code clap uses for usage
/// errors).
const EXIT_FATAL: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let outcome = match cli.command {
        Command::Keygen(args) => keygen::run(&args),
        Command::Rewrite(args) => rewrite::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Unsubscribe(args) => unsubscribe::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(Fatal(message)) => fatal(&message),
    }
}

/// Help and version go to stdout as clap renders them; a real usage error becomes one line.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return match err.print() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(EXIT_FATAL),
        };
    }
    if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return fatal(
            "a subcommand is required (keygen, rewrite, inspect or unsubscribe); see `hashbeacon --help`",
        );
    }
    // clap's first paragraph is the message (a list of missing arguments spans several
    // lines); the usage and tips after the blank line are left to `--help`.
    let rendered = err.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    fatal(&format!("{message} (see `hashbeacon --help`)"))
}

fn fatal(message: &str) -> ExitCode {
    // If stderr itself is gone there is nobody left to tell.
    let _ = writeln!(std::io::stderr().lock(), "hashbeacon: error: {message}");
    ExitCode::from(EXIT_FATAL)
}

/// Prints a one-line warning on stderr; the command goes on.
fn warn(message: &str) {
    // If stderr itself is gone there is nobody left to tell.
    let _ = writeln!(std::io::stderr().lock(), "hashbeacon: warning: {message}");
}

/// Writes one line to stdout, turning a closed pipe into an error instead of a panic.
fn print_line(line: &str) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|err| Fatal(format!("cannot write to stdout: {err}")))
}

/// The system clock as unix seconds: the library takes time as an argument, the tool
/// reads it here.
fn unix_now() -> Result<u64, Fatal> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .map_err(|_| Fatal("the system clock is before 1970".to_owned()))
}
