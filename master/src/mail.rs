//! Email over SMTP (lettre): receipts, reminders and notices in the customer's language.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use shared::config::SmtpConfig;
use shared::i18n::{Arg, Catalog, I18nError, Locale};

const FA: &str = include_str!("../../templates/mail/fa.toml");
const EN: &str = include_str!("../../templates/mail/en.toml");

/// The built-in email texts, checked for agreement between languages.
pub fn catalog() -> Result<Catalog, I18nError> {
    shared::i18n::fa_en_catalog(FA, EN)
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail server setting is not usable: {0}")]
    Setup(String),
    #[error("`{0}` is not an email address")]
    Address(String),
    #[error("the mail server refused or could not be reached: {0}")]
    Send(String),
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    texts: std::sync::Arc<Catalog>,
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> Result<Mailer, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.url.expose())
            .map_err(|e| MailError::Setup(e.to_string()))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|_| MailError::Address(config.from.clone()))?;
        let texts = catalog().map_err(|e| MailError::Setup(e.to_string()))?;
        Ok(Mailer {
            transport,
            from,
            texts: std::sync::Arc::new(texts),
        })
    }

    /// Sends the message `template` (its `.subject` and `.body` texts) to `to`.
    pub async fn send(
        &self,
        to: &str,
        locale: Locale,
        template: &str,
        args: &[(&str, Arg<'_>)],
    ) -> Result<(), MailError> {
        let to = to
            .parse::<Mailbox>()
            .map_err(|_| MailError::Address(to.to_string()))?;
        let subject = self
            .texts
            .text(locale, &format!("{template}.subject"), args);
        let body = self.texts.text(locale, &format!("{template}.body"), args);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Setup(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Send(e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_emails_parse_and_agree_across_languages() {
        super::catalog().unwrap();
    }
}
