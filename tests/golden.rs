//! Golden vectors: fixed keys and claims must produce these exact tokens and URLs
//! forever. They are also listed in `docs/TOKEN.md`; a change here is a format change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hashbeacon::{Claims, Key, KeyId, Kind, LinkId, Mailto, PseudonymKey, Tracker};

const KEY_TEXT: &str = "hbk1.k1.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const PSEUDONYM: &str = "3FOq2KtOAntf0XxY";
const ISSUED_AT: u64 = 1_767_225_600;

fn tracker() -> Tracker {
    let secret: Vec<u8> = (0u8..32).collect();
    let key = Key::new(KeyId::new("k1").unwrap(), &secret).unwrap();
    assert_eq!(key.to_text().as_str(), KEY_TEXT);
    Tracker::new(key.into(), "https://t.example.com/hb").unwrap()
}

#[test]
fn pseudonym_vector() {
    let key = PseudonymKey::new(&[0x42; 32]).unwrap();
    assert_eq!(key.pseudonym("ada@example.com").as_str(), PSEUDONYM);
    assert_eq!(key.pseudonym("  ADA@Example.COM\n").as_str(), PSEUDONYM);
}

#[test]
fn click_vector_with_recipient_and_index() {
    let claims = Claims {
        kind: Kind::Click,
        campaign: "spring-sale",
        link: Some(LinkId::Index(3)),
        recipient: Some(PSEUDONYM),
        issued_at: ISSUED_AT,
        expires_at: None,
    };
    let url = tracker()
        .click_url(
            &claims,
            "https://shop.example.com/sale?utm_source=news&q=a+b%2Fc#top",
        )
        .unwrap();
    assert_eq!(
        url,
        "https://t.example.com/hb/c/1c.k1.spring-sale.3.3FOq2KtOAntf0XxY.1767225600..Gtil4BQxnwlocAEAOtBzCg\
         ?https://shop.example.com/sale?utm_source=news&q=a+b%252Fc%23top"
    );
}

#[test]
fn click_vector_with_label_expiry_and_unicode() {
    let claims = Claims {
        kind: Kind::Click,
        campaign: "welcome",
        link: Some(LinkId::Label("cta")),
        recipient: None,
        issued_at: ISSUED_AT,
        expires_at: Some(1_798_761_600),
    };
    let url = tracker().click_url(&claims, "https://例え.jp/パス?x=ü").unwrap();
    assert_eq!(
        url,
        "https://t.example.com/hb/c/1c.k1.welcome.cta..1767225600.1798761600.x5MIxlQIPOzowEwbZc9CTQ\
         ?https://%E4%BE%8B%E3%81%88.jp/%E3%83%91%E3%82%B9?x=%C3%BC"
    );
}

#[test]
fn open_vector() {
    let claims = Claims {
        kind: Kind::Open,
        campaign: "spring-sale",
        link: None,
        recipient: Some(PSEUDONYM),
        issued_at: ISSUED_AT,
        expires_at: None,
    };
    assert_eq!(
        tracker().open_url(&claims).unwrap(),
        "https://t.example.com/hb/o/1o.k1.spring-sale..3FOq2KtOAntf0XxY.1767225600..iOdoIyblSXvudyqnsbUpXA.gif"
    );
}

#[test]
fn unsubscribe_vector() {
    let claims = Claims {
        kind: Kind::Unsubscribe,
        campaign: "weekly-news",
        link: None,
        recipient: Some(PSEUDONYM),
        issued_at: ISSUED_AT,
        expires_at: None,
    };
    let url =
        "https://t.example.com/hb/u/1u.k1.weekly-news..3FOq2KtOAntf0XxY.1767225600..I12YgItdpejaAAtMMynpLQ";
    let tracker = tracker();
    assert_eq!(tracker.unsubscribe_url(&claims).unwrap(), url);
    let verified = tracker
        .verify_unsubscribe(url.strip_prefix("https://t.example.com").unwrap(), ISSUED_AT)
        .unwrap();
    assert_eq!(verified.claims, claims);

    let pseudonym = PseudonymKey::new(&[0x42; 32])
        .unwrap()
        .pseudonym("ada@example.com");
    let mailto = Mailto::new("unsubscribe@example.com").unwrap();
    let headers = tracker
        .unsubscribe_headers("weekly-news", &pseudonym, ISSUED_AT, Some(&mailto))
        .unwrap();
    assert_eq!(
        headers.to_lines(),
        "List-Unsubscribe: <https://t.example.com/hb/u/1u.k1.weekly-news..3FOq2KtOAntf0XxY.1767225600..I12YgItdpejaAAtMMynpLQ>,\r\n \
         <mailto:unsubscribe@example.com>\r\n\
         List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    );
}

#[test]
fn vectors_verify() {
    let tracker = tracker();
    let click = tracker
        .verify_click(
            "/hb/c/1c.k1.welcome.cta..1767225600.1798761600.x5MIxlQIPOzowEwbZc9CTQ",
            Some("https://%E4%BE%8B%E3%81%88.jp/%E3%83%91%E3%82%B9?x=%C3%BC"),
            ISSUED_AT,
        )
        .unwrap();
    assert_eq!(click.destination().unwrap(), "https://例え.jp/パス?x=ü");
    assert!(!click.verified.expired);
    let late = tracker
        .verify_click(
            "/hb/c/1c.k1.welcome.cta..1767225600.1798761600.x5MIxlQIPOzowEwbZc9CTQ",
            Some("https://%E4%BE%8B%E3%81%88.jp/%E3%83%91%E3%82%B9?x=%C3%BC"),
            1_798_761_600,
        )
        .unwrap();
    assert!(late.verified.expired);
}
