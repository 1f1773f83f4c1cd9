//! The one-click unsubscribe headers a rewritten message gets for its recipient.
//!
//! The fields are the ones [`UnsubscribeHeaders`] writes (folded the same way), with the
//! message's own line ending; the URL is the one the body's
//! [`UNSUBSCRIBE_PLACEHOLDER`](crate::rewrite::UNSUBSCRIBE_PLACEHOLDER)s get.

use super::MessageError;
use super::transfer::LineEnding;
use crate::link::Tracker;
use crate::rewrite::Message;
use crate::unsubscribe::{Mailto, UnsubscribeHeaders};

/// Add the `List-Unsubscribe` and `List-Unsubscribe-Post` headers (RFC 8058 one-click
/// unsubscribe) for the message's recipient: see [`MessageOptions::list_unsubscribe`].
///
/// The signed URL names the [`Message`]'s campaign (or list) and the recipient's
/// pseudonym, issued at the recipient's send time and fresh until
/// [`Recipient::unsubscribe_expires_at`] (by default forever).
///
/// ```
/// use hashbeacon::message::{ListUnsubscribe, MessageOptions};
/// use hashbeacon::unsubscribe::Mailto;
/// let mut options = MessageOptions::default();
/// options.list_unsubscribe = Some(ListUnsubscribe::new().with_mailto(Mailto::new("leave@shop.example")?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`MessageOptions::list_unsubscribe`]: super::MessageOptions::list_unsubscribe
/// [`Recipient::unsubscribe_expires_at`]: crate::rewrite::Recipient::unsubscribe_expires_at
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListUnsubscribe {
    /// Also offer unsubscribing by mail to this address (`<mailto:…>` after the HTTPS
    /// URL), for clients that do not `POST`.
    pub mailto: Option<Mailto>,
}

impl ListUnsubscribe {
    /// The HTTPS one-click URL alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a `mailto:` URL after the HTTPS one.
    pub fn with_mailto(mut self, mailto: Mailto) -> Self {
        self.mailto = Some(mailto);
        self
    }

    /// The recipient's headers; their pseudonym is required (an unsubscribe must say
    /// who leaves).
    pub(crate) fn headers(
        &self,
        tracker: &Tracker,
        message: &Message<'_>,
    ) -> Result<UnsubscribeHeaders, MessageError> {
        let recipient = &message.recipient;
        let pseudonym = recipient
            .pseudonym
            .ok_or(MessageError::UnsubscribeNeedsRecipient)?;
        tracker
            .unsubscribe_headers_expiring(
                message.campaign,
                pseudonym,
                recipient.issued_at,
                recipient.unsubscribe_expires_at,
                self.mailto.as_ref(),
            )
            .map_err(MessageError::Unsubscribe)
    }
}

/// The header lines, each ended with the message's line ending.
pub(crate) fn field_lines(headers: &UnsubscribeHeaders, eol: LineEnding) -> Vec<u8> {
    let mut out = Vec::new();
    for line in headers.lines() {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(eol.as_bytes());
    }
    out
}
