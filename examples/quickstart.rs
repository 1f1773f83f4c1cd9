//! Quickstart: sign a tracked link and an open pixel for one recipient, then verify
//! them as the tracking endpoint would.
//!
//! Run with `cargo run --example quickstart`.

use std::error::Error;

use hashbeacon::{Claims, Key, KeyId, Kind, LinkId, PseudonymKey, Tracker};

fn main() -> Result<(), Box<dyn Error>> {
    // In production both keys come from a secret store; see `Keyring::from_text`.
    let key = Key::generate(KeyId::new("k1")?)?;
    let pseudonyms = PseudonymKey::generate()?;
    let tracker = Tracker::new(key.into(), "https://t.example.com/hb")?;
    let now = 1_767_225_600;

    let recipient = pseudonyms.pseudonym("ada@example.com");
    let claims = Claims {
        kind: Kind::Click,
        campaign: "welcome",
        link: Some(LinkId::Label("cta")),
        recipient: Some(recipient.as_str()),
        issued_at: now,
        expires_at: None,
    };
    let destination = "https://shop.example.com/start?plan=pro&ref=mail#pricing";
    let click = tracker.click_url(&claims, destination)?;
    let open = tracker.open_url(&Claims {
        kind: Kind::Open,
        link: None,
        ..claims
    })?;
    println!("destination: {destination}");
    println!("click URL:   {click}");
    println!("open pixel:  {open}");

    // The endpoint sees only the path and raw query of the request.
    let request = click
        .strip_prefix("https://t.example.com")
        .ok_or("unexpected base")?;
    let (path, query) = request.split_once('?').ok_or("click URL without query")?;
    let verified = tracker.verify_click(path, Some(query), now + 30)?;
    println!("redirect to: {}", verified.location()?);
    println!(
        "event:       click on campaign {} link {} by {}",
        verified.verified.claims.campaign,
        verified
            .verified
            .claims
            .link
            .map(|l| l.to_string())
            .unwrap_or_default(),
        verified.verified.claims.recipient.unwrap_or("-"),
    );

    let tampered = query.replace("shop.example.com", "evil.example");
    match tracker.verify_click(path, Some(&tampered), now + 30) {
        Ok(_) => return Err("a tampered destination verified".into()),
        Err(err) => println!("tampered:    rejected ({err})"),
    }
    Ok(())
}
