//! The reference tracking server: axum on tokio, events in SQLite.
//!
//! ```text
//! cargo run --example server -- --addr 127.0.0.1:8080 --key FILE --db PATH [--base-path /hb]
//! ```
//!
//! The keyring (one key per line, signing key first, as `hashbeacon keygen` writes it)
//! comes from `--key FILE` or the `HASHBEACON_KEY` environment variable. SIGINT or
//! SIGTERM stops it after every pending event is stored.
//!
//! `--conversion-parameter hb_ref` turns on conversion attribution: every redirect
//! carries a signed click reference under that query parameter, which the landing site
//! sends back with `POST /conversion`. `GET /dashboard?campaign=ID` shows the campaign's
//! figures live.

mod app;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use hashbeacon::Keyring;

const USAGE: &str = "usage: server [--addr HOST:PORT] (--key FILE | env HASHBEACON_KEY) --db PATH [--base-path /PREFIX] [--trusted-proxy NET]... [--conversion-parameter NAME]";

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("server: {error} (see --help)");
            return ExitCode::from(2);
        }
    };
    let server = match app::start(config).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("server: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "server: listening on http://{}, tracking URLs under {}/",
        server.addr(),
        server.tracker().base_url()
    );
    if let Err(error) = shutdown_signal().await {
        eprintln!("server: cannot wait for a shutdown signal: {error}");
    }
    eprintln!("server: shutting down, storing pending events");
    match server.shutdown().await {
        Ok(health) => {
            eprintln!(
                "server: stopped; {} events stored, {} not stored, {} not queued",
                health.events_stored, health.events_not_stored, health.events_not_queued
            );
            if health.status == "ok" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("server: shutdown failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration from the command line, `None` for `--help`.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<app::Config>, String> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let (mut key_file, mut db, mut base_path) = (None, None, String::new());
    let mut trusted_proxies = Vec::new();
    let mut conversion_reference = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => {
                let text = value()?;
                addr = text
                    .parse()
                    .map_err(|_| format!("--addr {text:?} is not HOST:PORT with an IP address as host"))?;
            }
            "--key" => key_file = Some(PathBuf::from(value()?)),
            "--db" => db = Some(PathBuf::from(value()?)),
            "--base-path" => {
                base_path = value()?.trim_end_matches('/').to_owned();
                if !base_path.is_empty() && !base_path.starts_with('/') {
                    return Err(format!("--base-path {base_path:?} must start with /"));
                }
            }
            "--trusted-proxy" => {
                let text = value()?;
                let net = text
                    .parse()
                    .map_err(|error| format!("--trusted-proxy {text:?}: {error}"))?;
                trusted_proxies.push(net);
            }
            "--conversion-parameter" => {
                let name = value()?;
                let parameter = hashbeacon::ReferenceParameter::new(&name)
                    .map_err(|error| format!("--conversion-parameter {name:?}: {error}"))?;
                conversion_reference = Some(parameter);
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let db = db.ok_or("--db PATH is required")?;
    let keyring = load_keyring(key_file)?;
    let mut config = app::Config::new(addr, keyring, db);
    config.base_path = base_path;
    config.trusted_proxies = trusted_proxies;
    config.conversion_reference = conversion_reference;
    Ok(Some(config))
}

fn load_keyring(file: Option<PathBuf>) -> Result<Keyring, String> {
    let (text, source) = match file {
        Some(path) => (
            std::fs::read_to_string(&path)
                .map_err(|error| format!("key file {}: {error}", path.display()))?,
            format!("key file {}", path.display()),
        ),
        None => (
            std::env::var("HASHBEACON_KEY")
                .map_err(|_| "no key: pass --key FILE or set HASHBEACON_KEY".to_owned())?,
            "HASHBEACON_KEY".to_owned(),
        ),
    };
    Keyring::from_text(&text).map_err(|error| format!("{source}: {error}"))
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
