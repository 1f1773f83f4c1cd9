//! The `hashbeacon` binary, run as a user runs it.

// The helpers below are test code too; clippy.toml's test exemption covers only `#[test]` fns.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hashbeacon::{Claims, Key, KeyId, Keyring, Kind, LinkId, PseudonymKey, Tracker};
use serde_json::Value;

const ISSUED: u64 = 1_767_225_600;

fn hashbeacon(args: &[&str]) -> Output {
    hashbeacon_with(args, b"", None)
}

/// Runs the binary with `stdin` as its input and `HASHBEACON_PSEUDONYM_KEY` set to
/// `pseudonym_key_env` (and unset otherwise, whatever the caller's environment holds).
fn hashbeacon_with(args: &[&str], stdin: &[u8], pseudonym_key_env: Option<&str>) -> Output {
    let env: Vec<(&str, &str)> = pseudonym_key_env
        .map(|value| ("HASHBEACON_PSEUDONYM_KEY", value))
        .into_iter()
        .collect();
    hashbeacon_env(args, stdin, &env)
}

/// Runs the binary with `stdin` as its input and exactly the `HASHBEACON_*` key
/// variables in `env` set.
fn hashbeacon_env(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hashbeacon"));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("HASHBEACON_KEY")
        .env_remove("HASHBEACON_PSEUDONYM_KEY")
        .envs(env.iter().copied());
    let mut child = command.spawn().unwrap();
    // A command that fails early may never read its input: a closed pipe is fine here.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Asserts the failure mode every unusable invocation must have: exit 2, nothing on
/// stdout, exactly one `hashbeacon: error:` line on stderr (no panic, no backtrace).
fn assert_one_line_error(output: &Output, mentions: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    assert!(output.stdout.is_empty(), "stdout: {}", stdout(output));
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(err.starts_with("hashbeacon: error: "), "stderr: {err}");
    assert!(err.contains(mentions), "`{mentions}` not in: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
}

fn key(id: &str, byte: u8) -> Key {
    Key::new(KeyId::new(id).unwrap(), &[byte; 32]).unwrap()
}

/// Writes a file under the test's scratch directory, readable by its owner only (as a
/// key file should be), and returns its path.
fn scratch_file(name: &str, contents: &str) -> PathBuf {
    let path = scratch_path(name);
    std::fs::write(&path, contents).unwrap();
    set_mode(&path, 0o600);
    path
}

/// A path under the test's scratch directory, with nothing there.
fn scratch_path(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn key_file(name: &str, keys: &[&Key]) -> PathBuf {
    let text: Vec<String> = keys.iter().map(|k| k.to_text().to_string()).collect();
    scratch_file(name, &(text.join("\n") + "\n"))
}

/// A click URL for `destination`, signed by `keyring` under `base`, issued at [`ISSUED`].
fn click_url(
    keyring: impl Into<Keyring>,
    base: &str,
    campaign: &str,
    link: Option<LinkId<'_>>,
    destination: &str,
) -> String {
    let claims = Claims {
        kind: Kind::Click,
        campaign,
        link,
        recipient: None,
        issued_at: ISSUED,
        expires_at: None,
    };
    Tracker::new(keyring.into(), base)
        .unwrap()
        .click_url(&claims, destination)
        .unwrap()
}

/// Runs `inspect` and returns its exit code and parsed JSON.
fn inspect(key: &Path, url: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["inspect", "--key", key.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(url);
    let output = hashbeacon(&args);
    assert!(output.stderr.is_empty(), "stderr: {}", stderr(&output));
    let out = stdout(&output);
    assert_eq!(out.lines().count(), 1, "one JSON object on one line: {out}");
    (output.status.code(), serde_json::from_str(&out).unwrap())
}

#[test]
fn keygen_prints_one_key_line_that_parses() {
    let output = hashbeacon(&["keygen"]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let out = stdout(&output);
    assert_eq!(out.lines().count(), 1);
    let key: Key = out.parse().unwrap();
    assert_eq!(key.id().as_str(), "k1");
    assert_ne!(stdout(&hashbeacon(&["keygen"])), out, "every key is new");
}

#[test]
fn keygen_uses_the_given_id() {
    let output = hashbeacon(&["keygen", "--id", "k2026a"]);
    assert!(output.status.success());
    let key: Key = stdout(&output).parse().unwrap();
    assert_eq!(key.id().as_str(), "k2026a");
}

#[test]
fn keygen_output_works_as_a_key_file() {
    let output = hashbeacon(&["keygen", "--id", "k7"]);
    let path = scratch_file("generated.key", &stdout(&output));
    let ring = Keyring::from_text(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let url = click_url(
        ring,
        "https://t.example.com",
        "gen",
        None,
        "https://shop.example/",
    );
    let (code, json) = inspect(&path, &url, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(json["key_id"], "k7");
}

#[test]
fn keygen_pseudonym_prints_a_pseudonym_key() {
    let output = hashbeacon(&["keygen", "--pseudonym"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.starts_with("hbp1."));
    assert!(PseudonymKey::from_text(&text).is_ok());
    assert!(Key::from_text(&text).is_err());
}

#[test]
fn keygen_out_writes_a_key_file_only_its_owner_can_read() {
    let path = scratch_path("out.key");
    let output = hashbeacon(&["keygen", "--id", "k3", "--out", path.to_str().unwrap()]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert!(output.stdout.is_empty(), "the secret goes to the file only");
    assert!(output.stderr.is_empty(), "stderr: {}", stderr(&output));
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let key: Key = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    assert_eq!(key.id().as_str(), "k3");

    let pseudonym = scratch_path("out.pseudonym");
    let output = hashbeacon(&["keygen", "--pseudonym", "--out", pseudonym.to_str().unwrap()]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    #[cfg(unix)]
    assert_eq!(mode(&pseudonym), 0o600);
    assert!(PseudonymKey::from_text(&std::fs::read_to_string(&pseudonym).unwrap()).is_ok());
}

#[test]
fn keygen_out_refuses_an_existing_file_unless_forced() {
    let path = scratch_file("existing.key", "keep me\n");
    set_mode(&path, 0o644);
    let refused = hashbeacon(&["keygen", "--out", path.to_str().unwrap()]);
    assert_one_line_error(&refused, "--force");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me\n");

    let forced = hashbeacon(&["keygen", "--out", path.to_str().unwrap(), "--force"]);
    assert!(forced.status.success(), "stderr: {}", stderr(&forced));
    // Replaced, and narrowed to the owner although it was world-readable before.
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    assert!(std::fs::read_to_string(&path).unwrap().parse::<Key>().is_ok());

    assert_one_line_error(&hashbeacon(&["keygen", "--force"]), "--out");
}

/// A key file that group or others can read still works, with one warning line.
#[cfg(unix)]
#[test]
fn reading_a_key_file_others_can_read_warns_in_one_line() {
    let signing = key("k1", 1);
    let path = key_file("readable.key", &[&signing]);
    let url = click_url(
        signing.clone(),
        "https://t.example.com",
        "c",
        None,
        "https://a.example/",
    );
    let run = || hashbeacon(&["inspect", "--key", path.to_str().unwrap(), &url]);
    assert!(run().stderr.is_empty(), "no warning at mode 0600");
    for readable in [0o644, 0o640, 0o604] {
        set_mode(&path, readable);
        let output = run();
        assert_eq!(output.status.code(), Some(0));
        let err = stderr(&output);
        assert_eq!(err.lines().count(), 1, "stderr: {err}");
        assert!(
            err.starts_with("hashbeacon: warning: key file `"),
            "stderr: {err}"
        );
        assert!(err.contains(&format!("mode {readable:o}")), "stderr: {err}");
    }

    // The pseudonym key file too.
    let pseudonym = scratch_file(
        "readable.pseudonym",
        &PseudonymKey::new(&[9; 32]).unwrap().to_text(),
    );
    set_mode(&pseudonym, 0o644);
    let body = scratch_file("body.txt", "See https://a.example/\n");
    let output = hashbeacon(&[
        "rewrite",
        "--key",
        key_file("rewrite.key", &[&signing]).to_str().unwrap(),
        "--base",
        "https://t.example.com",
        "--campaign",
        "c",
        "--text",
        "--recipient",
        "ada@example.com",
        "--pseudonym-key",
        pseudonym.to_str().unwrap(),
        body.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let warnings = stderr(&output)
        .lines()
        .filter(|line| line.starts_with("hashbeacon: warning: key file `"))
        .count();
    assert_eq!(warnings, 1, "stderr: {}", stderr(&output));
}

#[test]
fn keygen_rejects_a_bad_id_in_one_line() {
    assert_one_line_error(&hashbeacon(&["keygen", "--id", "has.dot"]), "invalid key id");
    assert_one_line_error(&hashbeacon(&["keygen", "--id", "waytoolongid"]), "invalid key id");
}

#[test]
fn inspect_reports_a_valid_click() {
    let signing = key("k1", 1);
    let path = key_file("click.key", &[&signing]);
    let destination = "https://shop.example/a b?q=1+2&r=%2F#top";
    let url = click_url(
        signing,
        "https://t.example.com/hb",
        "spring-sale",
        Some(LinkId::Index(3)),
        destination,
    );

    let (code, json) = inspect(&path, &url, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(json["valid"], true);
    assert_eq!(json["kind"], "click");
    assert_eq!(json["campaign"], "spring-sale");
    assert_eq!(json["link"], 3);
    assert_eq!(json["recipient"], Value::Null);
    assert_eq!(json["issued_at"], ISSUED);
    assert_eq!(json["expires_at"], Value::Null);
    assert_eq!(json["expired"], false);
    assert_eq!(json["key_id"], "k1");
    assert_eq!(json["destination"], destination);
}

#[test]
fn inspect_reports_a_valid_open_with_recipient_and_expiry() {
    let signing = key("k1", 1);
    let path = key_file("open.key", &[&signing]);
    let tracker = Tracker::new(signing.into(), "https://t.example.com").unwrap();
    let pseudonym = PseudonymKey::new(&[9; 32]).unwrap().pseudonym("ada@example.com");
    let claims = Claims {
        kind: Kind::Open,
        campaign: "launch",
        link: None,
        recipient: Some(pseudonym.as_str()),
        issued_at: ISSUED,
        expires_at: Some(ISSUED + 100),
    };
    let url = tracker.open_url(&claims).unwrap();

    let (code, json) = inspect(&path, &url, &["--now", &(ISSUED + 1).to_string()]);
    assert_eq!(code, Some(0));
    assert_eq!(json["valid"], true);
    assert_eq!(json["kind"], "open");
    assert_eq!(json["campaign"], "launch");
    assert_eq!(json["link"], Value::Null);
    assert_eq!(json["recipient"], pseudonym.as_str());
    assert_eq!(json["issued_at"], ISSUED);
    assert_eq!(json["expires_at"], ISSUED + 100);
    assert_eq!(json["expired"], false);
    assert_eq!(json["destination"], Value::Null);

    // Expired but authentic: still valid, and says so.
    let (code, json) = inspect(&path, &url, &["--now", &(ISSUED + 100).to_string()]);
    assert_eq!(code, Some(0));
    assert_eq!(json["valid"], true);
    assert_eq!(json["expired"], true);
}

#[test]
fn inspect_reports_a_link_label_as_text() {
    let signing = key("k1", 1);
    let path = key_file("label.key", &[&signing]);
    let url = click_url(
        signing,
        "http://localhost:8080/t/x",
        "c",
        Some(LinkId::Label("cta")),
        "https://ex.example/",
    );
    let (code, json) = inspect(&path, &url, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(json["link"], "cta");
}

#[test]
fn inspect_verifies_with_a_verify_only_key() {
    let old = key("k1", 1);
    let new = key("k2", 2);
    let path = key_file("rotated.key", &[&new, &old]);
    let url = click_url(old, "https://t.example.com", "old", None, "https://ex.example/");
    let (code, json) = inspect(&path, &url, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(json["key_id"], "k1");
}

#[test]
fn inspect_sees_the_url_as_a_browser_sends_it() {
    let signing = key("k1", 1);
    let path = key_file("browser.key", &[&signing]);
    let url = click_url(
        signing,
        "https://t.example.com",
        "c",
        None,
        "https://ex.example/p?q=1",
    );
    // A fragment the reader's client added is never sent, so it changes nothing.
    let (code, json) = inspect(&path, &format!("{url}#ignored"), &[]);
    assert_eq!(code, Some(0));
    assert_eq!(json["destination"], "https://ex.example/p?q=1");
}

fn assert_invalid(json: &Value, code: Option<i32>, reason: &str) {
    assert_eq!(code, Some(1));
    assert_eq!(json["valid"], false);
    let error = json["error"].as_str().unwrap();
    assert!(error.contains(reason), "`{reason}` not in `{error}`");
    assert_eq!(json.as_object().unwrap().len(), 2, "only valid and error: {json}");
}

#[test]
fn inspect_rejects_a_tampered_url() {
    let signing = key("k1", 1);
    let path = key_file("tamper.key", &[&signing]);
    let url = click_url(
        signing,
        "https://t.example.com/hb",
        "sale",
        Some(LinkId::Index(0)),
        "https://shop.example/",
    );

    let swapped = url.replace("shop.example", "evil.example");
    let (code, json) = inspect(&path, &swapped, &[]);
    assert_invalid(&json, code, "bad MAC");

    let campaign = url.replace(".sale.", ".sail.");
    let (code, json) = inspect(&path, &campaign, &[]);
    assert_invalid(&json, code, "bad MAC");

    let open_route = url.split_once('?').unwrap().0.replace("/hb/c/", "/hb/o/") + ".gif";
    let (code, json) = inspect(&path, &open_route, &[]);
    assert_invalid(&json, code, "wrong purpose");

    let truncated = url.split_once('?').unwrap().0;
    let (code, json) = inspect(&path, truncated, &[]);
    assert_invalid(&json, code, "without destination");
}

#[test]
fn inspect_rejects_an_unknown_key_and_a_foreign_url() {
    let path = key_file("other.key", &[&key("k2", 2)]);
    let url = click_url(
        key("k1", 1),
        "https://t.example.com",
        "c",
        None,
        "https://ex.example/",
    );
    let (code, json) = inspect(&path, &url, &[]);
    assert_invalid(&json, code, "unknown key id");

    let (code, json) = inspect(&path, "https://ex.example/some/page", &[]);
    assert_invalid(&json, code, "not a tracking URL");
    let (code, json) = inspect(&path, "not a url", &[]);
    assert_invalid(&json, code, "not an absolute URL");
}

fn inspect_with_key_file(path: &Path) -> Output {
    hashbeacon(&[
        "inspect",
        "--key",
        path.to_str().unwrap(),
        "https://t.example/c/x",
    ])
}

#[test]
fn inspect_with_a_missing_or_malformed_key_file_fails_in_one_line() {
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("does-not-exist.key");
    assert_one_line_error(&inspect_with_key_file(&missing), "cannot read key file");
    assert_one_line_error(&inspect_with_key_file(&missing), "does-not-exist.key");

    let cases = [
        ("short.key", "hbk1.k1.c2hvcnQ\n", "secret key too short"),
        ("garbage.key", "not a key\n", "malformed key"),
        ("empty.key", "# nothing here\n", "no key found"),
        (
            "twice.key",
            &format!("{0}\n{0}\n", key("k1", 1).to_text().as_str()),
            "duplicate key id",
        ),
    ];
    for (name, contents, reason) in cases {
        let output = inspect_with_key_file(&scratch_file(name, contents));
        assert_one_line_error(&output, name);
        assert_one_line_error(&output, reason);
    }
    let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    assert_one_line_error(&inspect_with_key_file(&directory), "cannot read key file");
}

#[test]
fn bad_usage_fails_in_one_line() {
    assert_one_line_error(&hashbeacon(&[]), "subcommand");
    assert_one_line_error(&hashbeacon(&["frobnicate"]), "frobnicate");
    assert_one_line_error(&hashbeacon(&["inspect", "https://t.example/c/x"]), "--key");
    assert_one_line_error(
        &hashbeacon(&["inspect", "--key", "k", "--now", "soon", "u"]),
        "soon",
    );
    assert_one_line_error(&hashbeacon(&["keygen", "--pseudonym", "--id", "k2"]), "--id");
}

#[test]
fn help_is_not_an_error() {
    let output = hashbeacon(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    for subcommand in ["keygen", "rewrite", "inspect"] {
        assert!(stdout(&output).contains(subcommand));
    }
}

const BASE: &str = "https://t.example.com/hb";
const ADDRESS: &str = "Ada.Lovelace@example.com";

const EMAIL: &str = r#"<html><body>
<p><a href="https://shop.example/spring?a=1&amp;b=2#top">Shop the sale</a></p>
<p><a href="https://blog.example/post">Read</a> or <a href="mailto:help@shop.example">write</a></p>
</body></html>
"#;

/// The destinations of [`EMAIL`]'s trackable links, entity-decoded, in order.
const EMAIL_DESTINATIONS: [&str; 2] = [
    "https://shop.example/spring?a=1&b=2#top",
    "https://blog.example/post",
];

/// Runs `rewrite --key KEY ARGS…` with `stdin` as its input.
fn rewrite(key: &Path, args: &[&str], stdin: &[u8], pseudonym_key_env: Option<&str>) -> Output {
    let mut all = vec!["rewrite", "--key", key.to_str().unwrap()];
    all.extend_from_slice(args);
    hashbeacon_with(&all, stdin, pseudonym_key_env)
}

/// Every tracking URL (under [`BASE`]) in an HTML body's attribute values, entity-decoded
/// as a browser reads them.
fn tracking_urls_in_html(body: &str) -> Vec<String> {
    body.split('"')
        .filter(|value| value.starts_with(BASE))
        .map(|value| value.replace("&amp;", "&"))
        .collect()
}

/// The unix time now, to bracket the `issued_at` a command run stamps.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signing key file and a pseudonym key, as `hashbeacon keygen` writes them.
struct Keys {
    key: PathBuf,
    pseudonym_key: PathBuf,
    pseudonym_text: String,
    /// The pseudonym of [`ADDRESS`].
    pseudonym: String,
}

fn keys(name: &str) -> Keys {
    let pseudonym_text = stdout(&hashbeacon(&["keygen", "--pseudonym"]));
    let pseudonym = PseudonymKey::from_text(&pseudonym_text)
        .unwrap()
        .pseudonym(ADDRESS)
        .as_str()
        .to_owned();
    Keys {
        key: scratch_file(&format!("{name}.key"), &stdout(&hashbeacon(&["keygen"]))),
        pseudonym_key: scratch_file(&format!("{name}.pkey"), &pseudonym_text),
        pseudonym_text,
        pseudonym,
    }
}

/// Asserts what a successful rewrite of [`EMAIL`] for [`ADDRESS`] must hold: both links
/// tracked and verifying to their destinations with the campaign and the recipient's
/// pseudonym, one open pixel, the `mailto:` left alone, the report on stderr and the
/// address nowhere.
fn assert_tracked_email(output: &Output, keys: &Keys, campaign: &str, issued: std::ops::RangeInclusive<u64>) {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
    let body = stdout(output);
    let report = stderr(output);
    for text in [&body, &report] {
        assert!(
            !text.to_lowercase().contains("lovelace"),
            "the address leaked: {text}"
        );
    }
    assert!(body.contains(r#"<a href="mailto:help@shop.example">write</a>"#));
    assert!(body.contains(">Shop the sale</a>") && body.contains(">Read</a>"));

    let urls = tracking_urls_in_html(&body);
    let (clicks, opens): (Vec<_>, Vec<_>) = urls.iter().partition(|url| url.contains("/hb/c/"));
    assert_eq!(clicks.len(), EMAIL_DESTINATIONS.len(), "body: {body}");
    assert_eq!(opens.len(), 1, "exactly one pixel: {body}");
    for (index, (url, destination)) in clicks.iter().zip(EMAIL_DESTINATIONS).enumerate() {
        let (code, json) = inspect(&keys.key, url, &[]);
        assert_eq!(code, Some(0), "{json}");
        assert_eq!(json["kind"], "click");
        assert_eq!(json["destination"], destination);
        assert_eq!(json["link"], index);
        assert_eq!(json["campaign"], campaign);
        assert_eq!(json["recipient"], keys.pseudonym.as_str());
        assert!(issued.contains(&json["issued_at"].as_u64().unwrap()), "{json}");
    }
    let (code, json) = inspect(&keys.key, opens[0], &[]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["kind"], "open");
    assert_eq!(json["campaign"], campaign);
    assert_eq!(json["recipient"], keys.pseudonym.as_str());

    assert!(
        report.starts_with("hashbeacon: tracked 2 link(s), left 1 alone;"),
        "report: {report}"
    );
    assert!(report.contains("open pixel inserted"), "report: {report}");
    assert!(
        report.contains("left alone: mailto:help@shop.example"),
        "report: {report}"
    );
}

#[test]
fn rewrite_tracks_an_html_file_and_inspect_verifies_every_link() {
    let keys = keys("rewrite-file");
    let email = scratch_file("rewrite-file.html", EMAIL);
    let before = unix_now();
    let output = hashbeacon(&[
        "rewrite",
        "--key",
        keys.key.to_str().unwrap(),
        "--base",
        BASE,
        "--campaign",
        "spring-sale",
        "--recipient",
        ADDRESS,
        "--pseudonym-key",
        keys.pseudonym_key.to_str().unwrap(),
        email.to_str().unwrap(),
    ]);
    assert_tracked_email(&output, &keys, "spring-sale", before..=unix_now());
}

#[test]
fn rewrite_reads_stdin_with_the_pseudonym_key_from_the_environment() {
    let keys = keys("rewrite-stdin");
    let args = ["--base", BASE, "--campaign", "launch", "--recipient", ADDRESS];
    let before = unix_now();
    let output = rewrite(&keys.key, &args, EMAIL.as_bytes(), Some(&keys.pseudonym_text));
    assert_tracked_email(&output, &keys, "launch", before..=unix_now());
}

#[test]
fn rewrite_without_a_recipient_signs_anonymous_links() {
    let keys = keys("rewrite-anonymous");
    let args = ["--base", BASE, "--campaign", "c"];
    let output = rewrite(&keys.key, &args, EMAIL.as_bytes(), Some(&keys.pseudonym_text));
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let urls = tracking_urls_in_html(&stdout(&output));
    assert_eq!(urls.len(), 3);
    for url in &urls {
        let (code, json) = inspect(&keys.key, url, &[]);
        assert_eq!(code, Some(0), "{json}");
        assert_eq!(json["recipient"], Value::Null);
    }
}

#[test]
fn rewrite_text_tracks_urls_and_leaves_every_other_byte() {
    let keys = keys("rewrite-text");
    let text = "Shop: https://shop.example/spring?a=1&b=2.\nRead <https://blog.example/post>, or reply.\n";
    let args = ["--base", BASE, "--campaign", "c", "--text"];
    let output = rewrite(&keys.key, &args, text.as_bytes(), None);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let body = stdout(&output);
    assert!(!body.contains("/hb/o/"), "no pixel in text: {body}");

    // Putting each verified destination back where its tracking URL stands gives the
    // input again, byte for byte.
    let mut restored = body.clone();
    let urls: Vec<&str> = body
        .split([' ', '\n', '<', '>'])
        .filter(|word| word.starts_with(BASE))
        .map(|word| word.trim_end_matches(['.', ',']))
        .collect();
    assert_eq!(urls.len(), 2, "body: {body}");
    for (index, url) in urls.iter().enumerate() {
        let (code, json) = inspect(&keys.key, url, &[]);
        assert_eq!(code, Some(0), "{json}");
        assert_eq!(json["link"], index);
        restored = restored.replacen(url, json["destination"].as_str().unwrap(), 1);
    }
    assert_eq!(restored, text);

    let report = stderr(&output);
    assert!(
        report.starts_with("hashbeacon: tracked 2 link(s), left 0 alone;"),
        "report: {report}"
    );
    assert!(!report.contains("pixel"), "report: {report}");
}

#[test]
fn rewrite_keeps_a_legacy_charset_and_sets_the_expiry() {
    let keys = keys("rewrite-charset");
    // "Café" in Windows-1252: 0xE9 is not UTF-8 on its own.
    let body = b"<p>Caf\xe9 <a href=\"https://caf\xe9.example/men\xfc\">Men\xfc</a></p>";
    let args = [
        "--base",
        BASE,
        "--campaign",
        "c",
        "--charset",
        "iso-8859-1",
        "--expires-in",
        "3600",
    ];
    let output = rewrite(&keys.key, &args, body, None);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let out = output.stdout;
    assert!(out.starts_with(b"<p>Caf\xe9 <a href=\""));
    assert!(
        out.windows(9).any(|w| w == b">Men\xfc</a>"),
        "the text stays Windows-1252"
    );

    // The tracked href itself is ASCII: the destination travels percent-encoded UTF-8,
    // and a browser lands on the same address as with the original href.
    let href = out.split(|&b| b == b'"').nth(1).unwrap();
    let url = std::str::from_utf8(href).unwrap();
    assert!(url.starts_with(BASE), "{url}");
    let (code, json) = inspect(&keys.key, url, &[]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(
        url::Url::parse(json["destination"].as_str().unwrap()).unwrap(),
        url::Url::parse("https://café.example/menü").unwrap()
    );
    let issued_at = json["issued_at"].as_u64().unwrap();
    assert_eq!(json["expires_at"], issued_at + 3600);
}

/// A Windows-1252 body (the real corpus email that declares ISO-8859-1 in a
/// `<meta http-equiv>`), with one more link holding "é" so the charset matters.
fn latin_email() -> Vec<u8> {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/emails/MimeKit__tnef_panic_message.html");
    let mut body = std::fs::read(&corpus).unwrap_or_else(|_| {
        b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\">\
          </head><body>"
            .to_vec()
    });
    body.extend_from_slice(b"<a href=\"https://caf\xe9.example/men\xfc\">Men\xfc</a></body></html>");
    body
}

#[test]
fn rewrite_reads_the_charset_a_meta_declares() {
    let keys = keys("rewrite-meta-charset");
    let output = rewrite(
        &keys.key,
        &["--base", BASE, "--campaign", "c"],
        &latin_email(),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let err = stderr(&output);
    assert!(
        !err.contains("--charset"),
        "no charset hint when every link is tracked: {err}"
    );
    assert!(!err.contains("not valid"), "{err}");
    let body = String::from_utf8_lossy(&output.stdout);
    let urls = tracking_urls_in_html(&body);
    let last = urls.iter().rfind(|url| url.contains("/c/")).unwrap();
    let (code, json) = inspect(&keys.key, last, &[]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(
        url::Url::parse(json["destination"].as_str().unwrap()).unwrap(),
        url::Url::parse("https://café.example/menü").unwrap()
    );
}

#[test]
fn rewrite_names_charset_when_links_are_not_valid_in_it() {
    let keys = keys("rewrite-charset-hint");
    // No declaration: the body is read as UTF-8, where 0xE9 is not valid.
    let body =
        b"<p><a href=\"https://caf\xe9.example/\">Caf\xe9</a> <a href=\"https://ok.example/\">ok</a></p>";
    let output = rewrite(&keys.key, &["--base", BASE, "--campaign", "c"], body, None);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let err = stderr(&output);
    let hint: Vec<&str> = err.lines().filter(|line| line.contains("--charset")).collect();
    assert_eq!(hint.len(), 1, "one line names --charset: {err}");
    assert!(
        hint[0].starts_with("hashbeacon: 1 link(s) left alone as not valid in UTF-8"),
        "{err}"
    );
    assert!(
        hint[0].contains("no byte order mark or <meta> charset found"),
        "{err}"
    );

    // A wrong --charset is named as given.
    let output = rewrite(
        &keys.key,
        &["--base", BASE, "--campaign", "c", "--charset", "utf-8"],
        &latin_email(),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(
        stderr(&output).contains("given by --charset"),
        "{}",
        stderr(&output)
    );

    // Told the right charset, it tracks the link and says nothing more.
    let output = rewrite(
        &keys.key,
        &["--base", BASE, "--campaign", "c", "--charset", "windows-1252"],
        body,
        None,
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(!stderr(&output).contains("--charset"), "{}", stderr(&output));
    assert_eq!(
        tracking_urls_in_html(&String::from_utf8_lossy(&output.stdout)).len(),
        3
    );
}

#[test]
fn rewrite_with_a_recipient_but_no_pseudonym_key_fails_in_one_line() {
    let ring = &key_file("rewrite-recipient.key", &[&key("k1", 1)]);
    let output = rewrite(
        ring,
        &["--base", BASE, "--campaign", "c", "--recipient", ADDRESS],
        EMAIL.as_bytes(),
        None,
    );
    assert_one_line_error(&output, "--recipient");
    assert_eq!(
        stderr(&output),
        "hashbeacon: error: --recipient needs a pseudonym key: pass --pseudonym-key FILE or set \
         HASHBEACON_PSEUDONYM_KEY\n"
    );

    // A malformed key is named without repeating it, nor the address.
    let output = rewrite(
        ring,
        &["--base", BASE, "--campaign", "c", "--recipient", ADDRESS],
        EMAIL.as_bytes(),
        Some("hbp1.not a secret!"),
    );
    assert_one_line_error(&output, "HASHBEACON_PSEUDONYM_KEY: malformed key");
    assert!(!stderr(&output).contains("not a secret") && !stderr(&output).contains("Lovelace"));

    let signing_key = key_file("not-a-pseudonym.key", &[&key("k1", 1)]);
    let output = rewrite(
        ring,
        &[
            "--base",
            BASE,
            "--campaign",
            "c",
            "--recipient",
            ADDRESS,
            "--pseudonym-key",
            signing_key.to_str().unwrap(),
        ],
        EMAIL.as_bytes(),
        None,
    );
    assert_one_line_error(&output, "not-a-pseudonym.key");
    assert_one_line_error(
        &output,
        "this is a signing key (`hbk1.…`), not a pseudonym key (`hbp1.…`); it belongs in --key or \
         HASHBEACON_KEY",
    );
}

#[test]
fn rewrite_with_bad_arguments_or_input_fails_in_one_line() {
    let ring = &key_file("rewrite-usage.key", &[&key("k1", 1)]);
    let run = |args: &[&str]| rewrite(ring, args, EMAIL.as_bytes(), None);
    for (base, reason) in [
        ("ftp://t.example.com", "the scheme must be https or http"),
        ("t.example.com", "not an absolute URL"),
        ("https://t.example.com/?q=1", "a query or fragment is not allowed"),
    ] {
        let output = run(&["--base", base, "--campaign", "c"]);
        assert_one_line_error(&output, "--base: invalid tracking base URL");
        assert_one_line_error(&output, reason);
    }

    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-email.html");
    let output = run(&["--base", BASE, "--campaign", "c", missing.to_str().unwrap()]);
    assert_one_line_error(&output, "cannot read input file");
    assert_one_line_error(&output, "no-such-email.html");

    let cases: [(&[&str], &str); 4] = [
        (
            &["--base", BASE, "--campaign", "spring sale"],
            "--campaign `spring sale`: invalid campaign id",
        ),
        (
            &["--base", BASE, "--campaign", "c", "--charset", "utf-16le"],
            "unsupported charset `utf-16le`",
        ),
        (&["--base", BASE], "--campaign"),
        (
            &["--base", BASE, "--campaign", "c", "--pseudonym-key", "any.pkey"],
            "--recipient",
        ),
    ];
    for (args, reason) in cases {
        assert_one_line_error(&run(args), reason);
    }

    let missing_key = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such.key");
    let output = rewrite(
        &missing_key,
        &["--base", BASE, "--campaign", "c"],
        EMAIL.as_bytes(),
        None,
    );
    assert_one_line_error(&output, "cannot read key file");
}

/// Runs `unsubscribe` with a fresh key file and pseudonym key, and the extra arguments.
fn unsubscribe(extra: &[&str]) -> (Output, Tracker, PseudonymKey) {
    // Files of their own for each call: tests run at once, and a file another call
    // deleted and wrote again could be missing when the command reads it.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let signing = key("k1", 1);
    let key_path = key_file(&format!("unsubscribe-keys-{call}"), &[&signing]);
    let pseudonym_key = PseudonymKey::new(&[6; 32]).unwrap();
    let pseudonym_path = scratch_file(&format!("unsubscribe-pseudonym-{call}"), &pseudonym_key.to_text());
    let mut args = vec![
        "unsubscribe",
        "--key",
        key_path.to_str().unwrap(),
        "--base",
        "https://t.example.com/hb",
        "--campaign",
        "weekly",
        "--recipient",
        "Ada@Example.com",
        "--pseudonym-key",
        pseudonym_path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let tracker = Tracker::new(signing.into(), "https://t.example.com/hb").unwrap();
    (hashbeacon(&args), tracker, pseudonym_key)
}

#[test]
fn unsubscribe_prints_the_two_header_lines_as_they_go_into_the_message() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (output, tracker, pseudonym_key) = unsubscribe(&["--mailto", "leave@example.com"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(output.stderr.is_empty());
    let text = stdout(&output);
    assert!(
        text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\n'),
        "CRLF lines: {text:?}"
    );
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    let url = lines[0]
        .strip_prefix("List-Unsubscribe: <")
        .and_then(|rest| rest.strip_suffix(">,"))
        .unwrap();
    assert_eq!(lines[1], " <mailto:leave@example.com>");
    assert_eq!(lines[2], "List-Unsubscribe-Post: List-Unsubscribe=One-Click");

    let path = url.strip_prefix("https://t.example.com").unwrap();
    let verified = tracker.verify_unsubscribe(path, before).unwrap();
    let expected = pseudonym_key.pseudonym("ada@example.com");
    assert_eq!(verified.claims.recipient, Some(expected.as_str()));
    assert_eq!(verified.claims.campaign, "weekly");
    assert_eq!(verified.claims.expires_at, None);
    assert!(verified.claims.issued_at >= before);
    assert!(!text.to_lowercase().contains("ada@"), "the address never appears");

    // The URL also passes `inspect`.
    let keys = key_file("unsubscribe-inspect", &[&key("k1", 1)]);
    let (code, json) = inspect(&keys, url, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(json["kind"], "unsubscribe");
}

#[test]
fn unsubscribe_without_mailto_prints_the_https_url_alone() {
    let (output, _, _) = unsubscribe(&[]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    assert!(lines[0].starts_with("List-Unsubscribe: <https://t.example.com/hb/u/1u.k1.weekly.."));
    assert!(lines[0].ends_with('>'));
    assert_eq!(lines[1], "List-Unsubscribe-Post: List-Unsubscribe=One-Click");
}

#[test]
fn unsubscribe_refuses_unsafe_or_invalid_input() {
    let (output, _, _) = unsubscribe(&["--mailto", "a@example.com>\nBcc: x@example.com"]);
    assert_one_line_error(&output, "--mailto");
    let (output, _, _) = unsubscribe(&["--mailto", "Ada <ada@example.com>"]);
    assert_one_line_error(&output, "mailto");
    let keys = key_file("unsubscribe-bad-campaign", &[&key("k1", 1)]);
    let pseudonyms = scratch_file(
        "unsubscribe-bad-campaign-p",
        &PseudonymKey::new(&[6; 32]).unwrap().to_text(),
    );
    let output = hashbeacon(&[
        "unsubscribe",
        "--key",
        keys.to_str().unwrap(),
        "--base",
        "https://t.example.com/hb",
        "--campaign",
        "spring sale",
        "--recipient",
        "ada@example.com",
        "--pseudonym-key",
        pseudonyms.to_str().unwrap(),
    ]);
    assert_one_line_error(&output, "--campaign");
    let output = hashbeacon(&["unsubscribe", "--key", keys.to_str().unwrap()]);
    assert_one_line_error(&output, "--pseudonym-key");
}

/// A multipart message with a quoted-printable HTML part and a plain-text part.
const EML: &str = "From: shop@example.com\r\n\
Subject: Spring\r\n\
Content-Type: multipart/alternative; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Shop: https://shop.example/spring\r\n\
--b\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
<p><a href=3D\"https://shop.example/spring\">Shop</a></p>\r\n\
--b--\r\n";

#[test]
fn rewrite_message_rewrites_an_eml_file_part_by_part() {
    let keys = keys("rewrite-message");
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("spring.eml");
    std::fs::write(&file, EML).unwrap();
    let args = [
        "--base",
        BASE,
        "--campaign",
        "c",
        "--message",
        file.to_str().unwrap(),
    ];
    let output = rewrite(&keys.key, &args, b"", None);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let out = stdout(&output);
    // Headers and boundaries stay; both parts now hold tracking URLs that verify.
    assert!(
        out.starts_with("From: shop@example.com\r\nSubject: Spring\r\n"),
        "{out}"
    );
    assert!(out.ends_with("\r\n--b--\r\n"), "{out}");
    let plain_url = out
        .split_whitespace()
        .find(|word| word.starts_with(BASE))
        .unwrap();
    let (code, json) = inspect(&keys.key, plain_url, &[]);
    assert_eq!(
        (code, json["destination"].as_str()),
        (Some(0), Some("https://shop.example/spring"))
    );
    assert!(out.contains(&format!("<p><a href=3D\"{BASE}/c/")), "{out}");

    let report = stderr(&output);
    assert!(
        report.starts_with("hashbeacon: 2 part(s), 2 rewritten;"),
        "report: {report}"
    );
    assert!(
        report.contains("part 1 (text/plain): tracked 1 link(s)"),
        "report: {report}"
    );
    assert!(
        report.contains("part 2 (text/html): tracked 1 link(s)"),
        "report: {report}"
    );
    assert!(report.contains("open pixel inserted"), "report: {report}");
}

#[test]
fn rewrite_message_refuses_a_dkim_signed_message_unless_allowed() {
    let keys = keys("rewrite-message-dkim");
    let signed = format!("DKIM-Signature: v=1; d=shop.example; b=abc\r\n{EML}");
    let args = ["--base", BASE, "--campaign", "c", "--message"];
    let output = rewrite(&keys.key, &args, signed.as_bytes(), None);
    assert_one_line_error(
        &output,
        "cannot rewrite the message: the message carries a DKIM-Signature",
    );

    let allowed = [
        "--base",
        BASE,
        "--campaign",
        "c",
        "--message",
        "--allow-dkim-signed",
    ];
    let output = rewrite(&keys.key, &allowed, signed.as_bytes(), None);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(stdout(&output).starts_with("DKIM-Signature: v=1; d=shop.example; b=abc\r\n"));

    let conflicting = ["--base", BASE, "--campaign", "c", "--message", "--text"];
    assert_one_line_error(&rewrite(&keys.key, &conflicting, EML.as_bytes(), None), "--text");
}

#[test]
fn rewrite_message_adds_the_recipients_list_unsubscribe_headers() {
    let keys = keys("rewrite-message-unsubscribe");
    let before = unix_now();
    let args = [
        "--base",
        BASE,
        "--campaign",
        "weekly",
        "--message",
        "--recipient",
        ADDRESS,
        "--pseudonym-key",
        keys.pseudonym_key.to_str().unwrap(),
        "--list-unsubscribe",
        "--mailto",
        "leave@shop.example",
    ];
    let output = rewrite(&keys.key, &args, EML.as_bytes(), None);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let out = stdout(&output);
    let headers = "From: shop@example.com\r\nSubject: Spring\r\n\
Content-Type: multipart/alternative; boundary=\"b\"\r\n";
    let rest = out.strip_prefix(headers).unwrap();
    let (url, rest) = rest
        .strip_prefix("List-Unsubscribe: <")
        .and_then(|rest| rest.split_once(">,\r\n <mailto:leave@shop.example>\r\n"))
        .unwrap();
    let rest = rest
        .strip_prefix("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\n--b\r\n")
        .unwrap();
    assert!(EML.ends_with(&rest[rest.find("\r\n--b--").unwrap()..]));
    let (code, json) = inspect(&keys.key, url, &[]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["kind"], "unsubscribe");
    assert_eq!(json["campaign"], "weekly");
    assert_eq!(json["recipient"], keys.pseudonym.as_str());
    assert!(json["issued_at"].as_u64().unwrap() >= before);

    // A message with its own List-Unsubscribe is refused; the flag needs a recipient.
    let own = format!("List-Unsubscribe: <mailto:x@lists.example>\r\n{EML}");
    assert_one_line_error(
        &rewrite(&keys.key, &args, own.as_bytes(), None),
        "already has a List-Unsubscribe",
    );
    let anonymous = [
        "--base",
        BASE,
        "--campaign",
        "weekly",
        "--message",
        "--list-unsubscribe",
    ];
    assert_one_line_error(
        &rewrite(&keys.key, &anonymous, EML.as_bytes(), None),
        "--recipient",
    );
    let no_flag = [
        "--base",
        BASE,
        "--campaign",
        "weekly",
        "--message",
        "--mailto",
        "a@b.example",
    ];
    assert_one_line_error(
        &rewrite(&keys.key, &no_flag, EML.as_bytes(), None),
        "--list-unsubscribe",
    );
}

#[path = "reference/mod.rs"]
mod reference;

/// Whether the endpoint accepts a request for `target` (path and query as sent): a
/// redirect for a click, an event that is not rejected for an open.
fn endpoint_accepts(ring: Keyring, target: &str) -> bool {
    let tracker = Tracker::new(ring, "https://t.example.com/hb").unwrap();
    let endpoint =
        hashbeacon::Endpoint::new(tracker, hashbeacon::sink::MemorySink::new()).with_rejected_events(true);
    let request = hashbeacon::Request::new("GET", target, "192.0.2.1".parse().unwrap());
    let handled = endpoint.handle(&request, ISSUED + 10);
    let status = handled.response.status;
    assert!(matches!(status, 200 | 302 | 404), "{status} for {target}");
    status == 302 || (status == 200 && !endpoint.sink().take()[0].is_rejected())
}

/// `inspect` and the endpoint give one verdict on every URL a browser can send: both
/// verify the path and query bytes as sent, through the same library checks, so
/// destinations a tracker never signs, non-canonical escapes, a raw `'`, an expiry
/// before issue, a fragment and a query on an open URL are judged alike.
#[test]
fn inspect_and_the_endpoint_agree() {
    let signing = key("k1", 1);
    let path = key_file("agree.key", &[&signing]);
    let ring = Keyring::new(signing.clone());
    let base = "https://t.example.com/hb";
    let tracker = Tracker::new(ring.clone(), base).unwrap();
    let click =
        |destination: &str| click_url(signing.clone(), base, "sale", Some(LinkId::Index(0)), destination);
    // A click whose wire destination is signed as given, bypassing the URL builder's
    // encoding and checks, as a signer of another make might.
    let signed_wire = |wire: &str| {
        let claims = Claims {
            kind: Kind::Click,
            campaign: "sale",
            link: None,
            recipient: None,
            issued_at: ISSUED,
            expires_at: None,
        };
        format!("{base}/c/{}?{wire}", signing.sign(&claims, wire).unwrap())
    };
    let open = tracker
        .open_url(&Claims {
            kind: Kind::Open,
            campaign: "sale",
            link: None,
            recipient: None,
            issued_at: ISSUED,
            expires_at: None,
        })
        .unwrap();
    let reference = reference::ReferenceKeyring::new(&[("k1", &[1; 32])]);
    let head = "1c.k1.sale.0.";
    let tail = ".1767225600.1767225599";
    let tag = reference.tag("k1", Kind::Click, head, "https://a.example/", tail);
    let expires_before_issue = format!(
        "{base}/c/{head}{tail}.{}?https://a.example/",
        reference::encode_tag(&tag)
    );

    let cases = [
        (click("https://shop.example/a b?q='1'#top"), true),
        (
            format!("{}#added-by-the-client", click("https://shop.example/")),
            true,
        ),
        (open.clone(), true),
        (format!("{open}?cache-buster=123"), true),
        (click("https://shop.example/").replace(".sale.", ".sail."), false),
        (signed_wire("https://shop.example/it's"), false),
        (signed_wire("javascript:alert(1)"), false),
        (signed_wire("https:///no-authority"), false),
        (signed_wire("https://shop.example/%0D%0ASet-Cookie:%20a=1"), false),
        (signed_wire("https://shop.example/%zz"), false),
        (signed_wire("https://shop.example/%"), false),
        (signed_wire("https://shop.example/%2f"), false),
        (signed_wire("https://shop.example/%FF"), false),
        (expires_before_issue, false),
    ];
    for (url, valid) in cases {
        let (code, json) = inspect(&path, &url, &["--now", &(ISSUED + 10).to_string()]);
        assert_eq!(json["valid"], valid, "inspect on {url}: {json}");
        assert_eq!(code, Some(if valid { 0 } else { 1 }));
        // What a browser sends: the path and query, never the fragment.
        let target = url.strip_prefix("https://t.example.com").unwrap();
        let target = target.split_once('#').map_or(target, |(sent, _)| sent);
        assert_eq!(
            endpoint_accepts(ring.clone(), target),
            valid,
            "endpoint on {target}"
        );
    }
    // A URL wrapped across lines when pasted checks as the URL a browser would send.
    let url = click("https://shop.example/");
    let (at, _) = url.char_indices().nth(40).unwrap();
    let (code, json) = inspect(&path, &format!("  {}\n\t{} ", &url[..at], &url[at..]), &[]);
    assert_eq!(
        (code, json["valid"].clone()),
        (Some(0), Value::Bool(true)),
        "{json}"
    );
}

#[test]
fn rewrite_refuses_an_empty_input() {
    let ring = &key_file("rewrite-empty.key", &[&key("k1", 1)]);
    let output = rewrite(ring, &["--base", BASE, "--campaign", "c"], b"", None);
    assert_one_line_error(&output, "standard input is empty: nothing to rewrite");
    assert_one_line_error(&output, "write to another file");

    let empty = scratch_file("empty.html", "");
    let output = rewrite(
        ring,
        &[
            "--base",
            BASE,
            "--campaign",
            "c",
            "--text",
            empty.to_str().unwrap(),
        ],
        b"",
        None,
    );
    assert_one_line_error(&output, "empty.html` is empty");
}

#[test]
fn inspect_says_a_url_copied_from_html_looks_escaped() {
    let signing = key("k1", 1);
    let path = key_file("escaped.key", &[&signing]);
    let url = click_url(
        signing,
        BASE,
        "c",
        Some(LinkId::Index(0)),
        "https://shop.example/?a=1&b=2&c=3",
    );
    assert!(url.contains('&'), "{url}");
    let escaped = url.replace('&', "&amp;");

    let (code, json) = inspect(&path, &escaped, &[]);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(json["valid"], false);
    let error = json["error"].as_str().unwrap();
    assert!(error.starts_with("the URL looks HTML-escaped"), "{error}");
    assert!(
        error.contains("with each `&amp;` read as `&` it is valid"),
        "{error}"
    );

    // Escaped and forged: still said to look escaped, and that it does not verify.
    let forged = escaped.replace("c=3", "c=4");
    let (code, json) = inspect(&path, &forged, &[]);
    assert_eq!(code, Some(1));
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("it does not verify with `&amp;` read as `&` either"),
        "{error}"
    );

    // The unescaped URL is simply valid.
    assert_eq!(inspect(&path, &url, &[]).0, Some(0));
}

#[test]
fn key_files_with_a_byte_order_mark_are_read_and_utf_16_is_named() {
    let signing = key("k1", 1);
    let url = click_url(signing.clone(), BASE, "c", None, "https://ex.example/");
    let text = format!("{}\r\n", signing.to_text().as_str());

    let bom = scratch_file("bom.key", &format!("\u{FEFF}{text}"));
    assert_eq!(inspect(&bom, &url, &[]).0, Some(0));

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let with_bom: Vec<u8> = format!("\u{FEFF}{text}")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let without_bom: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    for (name, bytes) in [("utf16le.key", with_bom), ("utf16be.key", without_bom)] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let output = hashbeacon(&["inspect", "--key", path.to_str().unwrap(), &url]);
        assert_one_line_error(&output, &format!("{name}` is UTF-16 text; save it as UTF-8"));
    }
}

#[test]
fn a_pseudonym_key_passed_as_key_is_named_as_a_mix_up() {
    let pseudonym_key = scratch_file("mixed-up.pkey", &stdout(&hashbeacon(&["keygen", "--pseudonym"])));
    let url = click_url(key("k1", 1), BASE, "c", None, "https://ex.example/");
    let output = hashbeacon(&["inspect", "--key", pseudonym_key.to_str().unwrap(), &url]);
    assert_one_line_error(
        &output,
        "mixed-up.pkey`: this is a pseudonym key (`hbp1.…`), not a signing key (`hbk1.…`); it \
         belongs in --pseudonym-key or HASHBEACON_PSEUDONYM_KEY",
    );
    let output = rewrite(
        &pseudonym_key,
        &["--base", BASE, "--campaign", "c"],
        EMAIL.as_bytes(),
        None,
    );
    assert_one_line_error(&output, "this is a pseudonym key");
}

#[test]
fn key_falls_back_to_the_environment() {
    let signing = key("k1", 1);
    let url = click_url(signing.clone(), BASE, "c", None, "https://ex.example/");
    let ring = signing.to_text();
    let output = hashbeacon_env(&["inspect", &url], b"", &[("HASHBEACON_KEY", ring.as_str())]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["valid"], true);

    let output = hashbeacon_env(
        &["rewrite", "--base", BASE, "--campaign", "c"],
        EMAIL.as_bytes(),
        &[("HASHBEACON_KEY", ring.as_str())],
    );
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let urls = tracking_urls_in_html(&stdout(&output));
    assert_eq!(urls.len(), 3, "two links and the pixel");

    // A --key file wins over the environment.
    let other = key_file("env-loses.key", &[&key("k2", 2)]);
    let output = hashbeacon_env(
        &["inspect", "--key", other.to_str().unwrap(), &url],
        b"",
        &[("HASHBEACON_KEY", ring.as_str())],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "verified with the file's key: {}",
        stdout(&output)
    );

    assert_one_line_error(
        &hashbeacon(&["inspect", &url]),
        "no key: pass --key FILE or set HASHBEACON_KEY",
    );
    let output = hashbeacon_env(&["inspect", &url], b"", &[("HASHBEACON_KEY", "hbk1.nope")]);
    assert_one_line_error(&output, "HASHBEACON_KEY: malformed key");
}

/// The keys of a one-line JSON object in the order they are written (values here hold
/// no `"` of their own).
fn keys_in_order(json: &str) -> Vec<String> {
    json.split(['{', ','])
        .filter_map(|part| {
            part.strip_prefix('"')?
                .split_once("\":")
                .map(|(key, _)| key.to_owned())
        })
        .collect()
}

#[test]
fn the_readme_shows_inspect_output_as_it_is_printed() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let example = readme
        .lines()
        .find(|line| line.starts_with("{\"campaign\""))
        .expect("the README shows an inspect output line");
    let signing = key("k1", 1);
    let path = key_file("readme.key", &[&signing]);
    let url = click_url(
        signing,
        BASE,
        "c",
        Some(LinkId::Label("cta")),
        "https://ex.example/",
    );
    let output = hashbeacon(&["inspect", "--key", path.to_str().unwrap(), &url]);
    assert_eq!(output.status.code(), Some(0));
    let printed = stdout(&output);
    assert_eq!(keys_in_order(example), keys_in_order(printed.trim()));
    assert_eq!(keys_in_order(example).len(), 10, "{example}");
}

#[test]
fn rewrite_message_names_the_part_whose_charset_is_wrong() {
    let keys = keys("rewrite-message-charset");
    let mut eml = b"From: shop@example.com\r\nSubject: Caf\r\nMIME-Version: 1.0\r\n\
        Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        .to_vec();
    eml.extend_from_slice(b"<p><a href=\"https://caf\xe9.example/\">Caf\xe9</a></p>\r\n");
    let output = rewrite(
        &keys.key,
        &["--base", BASE, "--campaign", "c", "--message"],
        &eml,
        None,
    );
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let err = stderr(&output);
    let hint: Vec<&str> = err
        .lines()
        .filter(|line| line.starts_with("hashbeacon: part "))
        .collect();
    assert_eq!(
        hint,
        [
            "hashbeacon: part 1: 1 link(s) left alone as not valid in UTF-8, the charset the body was \
          read in (given by the part's Content-Type charset); name its real charset with the part's \
          Content-Type charset"
        ],
        "{err}"
    );
}
