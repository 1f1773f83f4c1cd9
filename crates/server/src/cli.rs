//! The command line of `hashbeacon-server`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hashbeacon::{Keyring, ReferenceParameter};

use crate::Config;

/// `--help`.
pub const USAGE: &str = "\
usage: hashbeacon-server [--addr HOST:PORT] [--admin-addr HOST:PORT]
                         (--key FILE | env HASHBEACON_KEY) --db PATH|postgres://URL
                         [--base-path /PREFIX] [--trusted-proxy NET]...
                         [--forwarded-header x-forwarded-for|forwarded|both-must-agree]
                         [--conversion-parameter NAME] [--admin-token-file FILE]
                         [--header-read-timeout SECONDS] [--shutdown-deadline SECONDS]
                         [--retention-days DAYS] [--db-connections N]

  --addr                  public tracking listener (default 127.0.0.1:8080)
  --admin-addr            /stats, /dashboard, /unsubscribes, /healthz, POST /conversion
                          (default 127.0.0.1:8081: keep it off the internet)
  --key                   keyring file, one key per line, signing key first
  --db                    SQLite file (created if missing) or postgres:// URL
  --base-path             path prefix of the tracking URLs, e.g. /hb
  --trusted-proxy         a proxy whose X-Forwarded-For / Forwarded is believed
  --forwarded-header      the one header the trusted proxies write (default
                          both-must-agree: read both, record only when they agree)
  --conversion-parameter  add a signed click reference under NAME to redirects
  --admin-token-file      require `Authorization: Bearer <token>` on the admin
                          listener, the token read from FILE (or HASHBEACON_ADMIN_TOKEN)
  --header-read-timeout   close connections that have not sent a request head (default 10)
  --shutdown-deadline     on SIGTERM, wait this long for requests in flight, then as
                          long for an unreachable database to take queued events (default 30)
  --retention-days        delete raw events older than DAYS, hourly; figures stay
  --db-connections        PostgreSQL connections events are stored on at once
                          (default 1; SQLite always uses one)";

/// The configuration from the command line and the environment, `None` for `--help`.
///
/// `env` looks up an environment variable (`HASHBEACON_KEY`, `HASHBEACON_ADMIN_TOKEN`);
/// warnings (a key file others can read) go to `warn`.
pub fn parse(
    mut args: impl Iterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(String),
) -> Result<Option<Config>, String> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut admin_addr = None;
    let (mut key_file, mut db, mut base_path) = (None, None, String::new());
    let (mut token_file, mut header_timeout, mut deadline, mut retention) = (None, None, None, None);
    let mut trusted_proxies = Vec::new();
    let mut forwarded_header = None;
    let mut conversion_reference = None;
    let mut db_connections = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => addr = socket_addr(&flag, &value()?)?,
            "--admin-addr" => admin_addr = Some(socket_addr(&flag, &value()?)?),
            "--key" => key_file = Some(PathBuf::from(value()?)),
            "--db" => db = Some(value()?),
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
            "--forwarded-header" => {
                let text = value()?;
                let header = text
                    .parse()
                    .map_err(|error| format!("--forwarded-header {text:?}: {error}"))?;
                forwarded_header = Some(header);
            }
            "--conversion-parameter" => {
                let name = value()?;
                let parameter = ReferenceParameter::new(&name)
                    .map_err(|error| format!("--conversion-parameter {name:?}: {error}"))?;
                conversion_reference = Some(parameter);
            }
            "--admin-token-file" => token_file = Some(PathBuf::from(value()?)),
            "--header-read-timeout" => header_timeout = Some(seconds(&flag, &value()?)?),
            "--shutdown-deadline" => deadline = Some(seconds(&flag, &value()?)?),
            "--retention-days" => retention = Some(seconds(&flag, &value()?)? * 86_400),
            "--db-connections" => {
                let text = value()?;
                match text.parse::<usize>() {
                    Ok(n @ 1..=64) => db_connections = Some(n),
                    _ => return Err(format!("--db-connections {text:?} is not a number from 1 to 64")),
                }
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let db = db.ok_or("--db PATH or --db postgres://URL is required")?;
    let keyring = load_keyring(key_file, &env, warn)?;
    let mut config = Config::new(addr, keyring, db);
    if let Some(admin_addr) = admin_addr {
        config.admin_addr = admin_addr;
    }
    config.admin_token = match token_file {
        Some(path) => Some(read_secret(&path, "admin token file", warn)?),
        None => env("HASHBEACON_ADMIN_TOKEN"),
    }
    .map(|token| token.trim().to_owned());
    if config.admin_token.as_deref() == Some("") {
        return Err("the admin token is empty".to_owned());
    }
    config.base_path = base_path;
    config.trusted_proxies = trusted_proxies;
    config.forwarded_header = forwarded_header.unwrap_or_default();
    config.conversion_reference = conversion_reference;
    config.header_read_timeout = header_timeout.unwrap_or(config.header_read_timeout);
    config.shutdown_deadline = deadline.unwrap_or(config.shutdown_deadline);
    config.retention = retention;
    config.db_connections = db_connections.unwrap_or(config.db_connections);
    Ok(Some(config))
}

fn socket_addr(flag: &str, text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{flag} {text:?} is not HOST:PORT with an IP address as host"))
}

fn seconds(flag: &str, text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(format!(
            "{flag} {text:?} is not a whole number of seconds above 0"
        )),
    }
}

fn load_keyring(
    file: Option<PathBuf>,
    env: &impl Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(String),
) -> Result<Keyring, String> {
    let (text, source) = match file {
        Some(path) => (
            read_secret(&path, "key file", warn)?,
            format!("key file {}", path.display()),
        ),
        None => (
            env("HASHBEACON_KEY").ok_or("no key: pass --key FILE or set HASHBEACON_KEY")?,
            "HASHBEACON_KEY".to_owned(),
        ),
    };
    Keyring::from_text(&text).map_err(|error| format!("{source}: {error}"))
}

/// Reads a file holding a secret, with a warning when its group or others may read it.
fn read_secret(path: &Path, what: &str, warn: &mut dyn FnMut(String)) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{what} {}: {error}", path.display()))?;
    if let Some(mode) = readable_by_others(path) {
        warn(format!(
            "warning: {what} {} can be read by group or others (mode {mode:o}); `chmod 600` it",
            path.display()
        ));
    }
    Ok(text)
}

/// The file's permission bits, if its group or others may read it.
#[cfg(unix)]
fn readable_by_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "hbk1.k1.-zK3TkaNNZ_JOObOWy4n41GuhFVPxzF-LTuwgLFyDLs";

    fn run(args: &[&str], env: &[(&str, &str)]) -> (Result<Option<Config>, String>, Vec<String>) {
        let mut warnings = Vec::new();
        let env = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        let parsed = parse(args.iter().map(|arg| (*arg).to_owned()), env, &mut |warning| {
            warnings.push(warning)
        });
        (parsed, warnings)
    }

    #[test]
    fn defaults_keep_the_admin_listener_on_loopback() {
        let (config, warnings) = run(&["--db", "x.db"], &[("HASHBEACON_KEY", KEY)]);
        let config = config.unwrap().unwrap();
        assert_eq!(config.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.admin_addr, "127.0.0.1:8081".parse().unwrap());
        assert_eq!((config.db.as_str(), config.admin_token), ("x.db", None));
        assert_eq!(config.retention, None);
        assert_eq!(config.db_connections, 1);
        assert!(warnings.is_empty());
    }

    #[test]
    fn flags_set_what_they_name() {
        let (config, _) = run(
            &[
                "--addr",
                "0.0.0.0:80",
                "--admin-addr",
                "10.0.0.5:9000",
                "--db",
                "postgres://hb@db/hb",
                "--header-read-timeout",
                "3",
                "--shutdown-deadline",
                "7",
                "--retention-days",
                "90",
                "--db-connections",
                "4",
                "--forwarded-header",
                "X-Forwarded-For",
            ],
            &[("HASHBEACON_KEY", KEY), ("HASHBEACON_ADMIN_TOKEN", " t0ken\n")],
        );
        let config = config.unwrap().unwrap();
        assert_eq!(config.admin_addr, "10.0.0.5:9000".parse().unwrap());
        assert_eq!(config.db, "postgres://hb@db/hb");
        assert_eq!(config.admin_token.as_deref(), Some("t0ken"));
        assert_eq!(config.header_read_timeout, Duration::from_secs(3));
        assert_eq!(config.shutdown_deadline, Duration::from_secs(7));
        assert_eq!(config.retention, Some(Duration::from_secs(90 * 86_400)));
        assert_eq!(config.db_connections, 4);
        assert_eq!(
            config.forwarded_header,
            hashbeacon::ForwardedHeader::XForwardedFor
        );
    }

    #[test]
    fn bad_values_are_one_clear_error() {
        for (args, says) in [
            (
                &["--db", "x", "--shutdown-deadline", "0"][..],
                "--shutdown-deadline \"0\"",
            ),
            (
                &["--db", "x", "--admin-addr", "localhost:1"],
                "--admin-addr \"localhost:1\"",
            ),
            (&["--db"], "--db needs a value"),
            (
                &["--db", "x", "--db-connections", "0"],
                "--db-connections \"0\" is not a number from 1 to 64",
            ),
            (
                &["--db", "x", "--forwarded-header", "x-real-ip"],
                "--forwarded-header \"x-real-ip\"",
            ),
            (&["--addr", "127.0.0.1:1"], "--db PATH"),
            (&["--db", "x", "--what"], "unknown argument \"--what\""),
        ] {
            let (result, _) = run(args, &[("HASHBEACON_KEY", KEY)]);
            assert!(result.unwrap_err().contains(says), "{args:?}");
        }
        let (result, _) = run(
            &["--db", "x"],
            &[("HASHBEACON_KEY", KEY), ("HASHBEACON_ADMIN_TOKEN", " ")],
        );
        assert_eq!(result.unwrap_err(), "the admin token is empty");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_warned_about_once() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hb.key");
        std::fs::write(&path, KEY).unwrap();
        let path_text = path.to_str().unwrap();
        for (mode, warned) in [(0o600, false), (0o640, true), (0o604, true), (0o620, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let (config, warnings) = run(&["--key", path_text, "--db", "x.db"], &[]);
            assert!(config.unwrap().is_some());
            assert_eq!(warnings.len(), usize::from(warned), "mode {mode:o}: {warnings:?}");
            if warned {
                assert!(warnings[0].contains(&format!("mode {mode:o}")) && !warnings[0].contains('\n'));
            }
        }
    }
}
