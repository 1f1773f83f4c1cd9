//! `hashbeacon-server`: the tracking server. See `--help` and the README's deployment
//! section.

use std::process::ExitCode;

use hashbeacon_server::log;

#[tokio::main]
async fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let mut warn = |warning: String| log(format_args!("{warning}"));
    let config = match hashbeacon_server::cli::parse(std::env::args().skip(1), env, &mut warn) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{}", hashbeacon_server::cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            log(format_args!("{error} (see --help)"));
            return ExitCode::from(2);
        }
    };
    let server = match hashbeacon_server::start(config).await {
        Ok(server) => server,
        Err(error) => {
            log(format_args!("{error}"));
            return ExitCode::FAILURE;
        }
    };
    log(format_args!(
        "tracking on http://{} (URLs under {}/), admin on http://{}",
        server.addr(),
        server.tracker().base_url(),
        server.admin_addr()
    ));
    if let Err(error) = shutdown_signal().await {
        log(format_args!("cannot wait for a shutdown signal: {error}"));
    }
    log(format_args!("shutting down, storing pending events"));
    match server.shutdown().await {
        Ok(health) => {
            log(format_args!(
                "stopped; {} events stored, {} not stored, {} not queued",
                health.events_stored, health.events_not_stored, health.events_not_queued
            ));
            if health.status == "ok" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            log(format_args!("shutdown failed: {error}"));
            ExitCode::FAILURE
        }
    }
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
