//! The `hashbeacon` binary, run as a user runs it.

// The helpers below are test code too; clippy.toml's test exemption covers only `#[test]` fns.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hashbeacon::{Claims, Key, KeyId, Keyring, Kind, LinkId, PseudonymKey, Tracker};
use serde_json::Value;

const ISSUED: u64 = 1_767_225_600;

fn hashbeacon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hashbeacon"))
        .args(args)
        .output()
        .unwrap()
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

/// Writes a file under the test's scratch directory and returns its path.
fn scratch_file(name: &str, contents: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, contents).unwrap();
    path
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
    assert!(stdout(&output).contains("inspect"));
    assert!(stdout(&output).contains("keygen"));
}
