//! E-mail: the transport ([`Mailer`]: SMTP in production, `.eml` files in
//! development), the layout of a message and of a digest (plain text and
//! HTML), and the one-click unsubscribe links of RFC 8058.
//!
//! A notification's title and body are rendered from the tenant's templates
//! when it is queued (see [`crate::consumer`]); the e-mail wraps them in a
//! layout that greets the person, links to the web client and ends with the
//! unsubscribe link. Every e-mail carries
//!
//! - `List-Unsubscribe: <https://…/unsubscribe/<token>>` and
//!   `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, so mail clients
//!   offer a one-click unsubscribe that needs no login;
//! - a `Message-ID` derived from the delivery id, so a send retried after a
//!   lost answer is recognisable as the same message.
//!
//! Unsubscribe tokens read `<tenant>.<token id>.<secret>`. The secret is an
//! HMAC of (tenant, person, category) under the [`UnsubscribeKey`], so every
//! e-mail to one person about one category carries the same link, and the
//! store keeps only a SHA-256 of the secret: a leaked table names no valid
//! link.

use std::{fmt, path::Path, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Mailbox, MultiPart,
        header::{Header, HeaderName, HeaderValue},
    },
};
use minijinja::{Environment, context};
use platform::{
    auth::TenantId,
    error::{Error, Result},
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::Category;

/// How long one SMTP conversation may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where e-mail goes.
pub enum Mailer {
    /// An SMTP relay (`smtp://host:port`; `?tls=required` for STARTTLS,
    /// `smtps://` for implicit TLS; `user:password@` for AUTH).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// A directory of `.eml` files (development: `collegium dev`).
    File(AsyncFileTransport<Tokio1Executor>),
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mailer::Smtp(_) => f.write_str("Mailer::Smtp"),
            Mailer::File(_) => f.write_str("Mailer::File"),
        }
    }
}

/// Why a send failed: worth retrying, or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// 4xx answers, timeouts, refused connections: try again later.
    Transient(String),
    /// 5xx answers (no such mailbox, message refused): retrying cannot help.
    Permanent(String),
}

impl Mailer {
    /// An SMTP mailer for `url` (see [`Mailer::Smtp`]); pooled connections.
    pub fn smtp(url: &str) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| Error::invalid("COLLEGIUM_SMTP_URL", e.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Mailer::Smtp(transport))
    }

    /// A mailer writing `<uuid>.eml` files into `dir` (created if missing).
    pub fn file(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::invalid("COLLEGIUM_MAIL_DIR", format!("{}: {e}", dir.display())))?;
        Ok(Mailer::File(AsyncFileTransport::new(dir)))
    }

    pub async fn send(&self, message: Message) -> std::result::Result<(), SendError> {
        match self {
            Mailer::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| {
                let text = match e.status() {
                    Some(code) => format!("SMTP {code}: {e}"),
                    None => format!("SMTP: {e}"),
                };
                if e.is_permanent() {
                    SendError::Permanent(text)
                } else {
                    SendError::Transient(text)
                }
            }),
            Mailer::File(t) => t
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(format!("mail directory: {e}"))),
        }
    }
}

// ------------------------------------------------------------------ unsubscribe links

/// The key of unsubscribe secrets. Keep it stable: links already sent stop
/// working when it changes (the store keeps the first secret's hash).
#[derive(Clone)]
pub struct UnsubscribeKey(Arc<[u8; 32]>);

impl fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnsubscribeKey(..)")
    }
}

impl UnsubscribeKey {
    /// A key derived from secret material (e.g. a key file's bytes).
    pub fn derive(material: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"collegium notifications unsubscribe v1\0");
        h.update(material);
        Self(Arc::new(h.finalize().into()))
    }

    /// A random key (tests; a single process that never restarts).
    pub fn random() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(Arc::new(bytes))
    }

    /// The secret of the link of one person and category.
    pub fn secret(&self, t: TenantId, person: Uuid, category: Category) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice())
            .expect("HMAC takes a key of any length");
        mac.update(t.0.as_bytes());
        mac.update(person.as_bytes());
        mac.update(category.as_str().as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// What the store keeps of a secret.
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token of a link: `<tenant>.<token id>.<secret>`.
pub fn unsubscribe_token(t: TenantId, token: Uuid, secret: &str) -> String {
    format!("{t}.{token}.{secret}")
}

/// The parts of a token, or `None` when it is not one.
pub fn parse_unsubscribe_token(token: &str) -> Option<(TenantId, Uuid, String)> {
    let mut parts = token.trim().splitn(3, '.');
    let tenant = Uuid::parse_str(parts.next()?).ok()?;
    let id = Uuid::parse_str(parts.next()?).ok()?;
    let secret = parts.next()?;
    if secret.is_empty() || secret.len() > 128 {
        return None;
    }
    Some((TenantId(tenant), id, secret.to_string()))
}

/// `List-Unsubscribe: <url>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}

// ------------------------------------------------------------------ layout

/// One message inside an e-mail.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub title: String,
    /// Plain text; paragraphs separated by blank lines.
    pub body: String,
    /// Absolute URL in the web client.
    pub url: String,
    pub category: Category,
    /// The message's own e-mail parts, rendered from its template when it
    /// was queued: plain text, and HTML already escaped (inserted as is).
    /// Used instead of `body` and the "Open in Collegium" link outside
    /// digests; `None` lays out `body`.
    pub text: Option<String>,
    pub html: Option<String>,
}

/// An unsubscribe link shown in the footer.
#[derive(Debug, Clone, Serialize)]
pub struct Unsubscribe {
    pub category: Category,
    pub url: String,
}

/// Everything an e-mail needs besides its transport.
#[derive(Debug, Clone)]
pub struct Email {
    /// `<…@…>`, stable per delivery.
    pub message_id: String,
    pub to: String,
    pub recipient_name: String,
    pub subject: String,
    pub items: Vec<Item>,
    /// Whether this is a digest of several messages.
    pub digest: bool,
    /// The first is the one in `List-Unsubscribe`.
    pub unsubscribe: Vec<Unsubscribe>,
    pub settings_url: String,
}

const TEXT_LAYOUT: &str = "\
{% if name %}Hello {{ name }},{% else %}Hello,{% endif %}

{% if digest %}Here is what happened since your last digest ({{ items|length }} {% if items|length == 1 %}message{% else %}messages{% endif %}).

{% for item in items %}* {{ item.title }}
{{ item.body }}
{{ item.url }}

{% endfor %}{% else %}{% for item in items %}{% if item.text is not none %}{{ item.text }}
{% else %}{{ item.body }}

Open in Collegium: {{ item.url }}
{% endif %}{% endfor %}{% endif %}
--
{% for u in unsubscribe %}Unsubscribe from {{ u.category|label }} e-mails: {{ u.url }}
{% endfor %}Change what you receive: {{ settings_url }}
";

const HTML_LAYOUT: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; color: #222; max-width: 40em;">
<p>{% if name %}Hello {{ name }},{% else %}Hello,{% endif %}</p>
{% if digest %}<p>Here is what happened since your last digest ({{ items|length }} {% if items|length == 1 %}message{% else %}messages{% endif %}).</p>
<ul>
{% for item in items %}<li><p><a href="{{ item.url }}"><strong>{{ item.title }}</strong></a></p>
{% for p in item.body|paragraphs %}<p style="white-space: pre-line;">{{ p }}</p>
{% endfor %}</li>
{% endfor %}</ul>
{% else %}{% for item in items %}{% if item.html is not none %}{{ item.html|safe }}
{% else %}{% for p in item.body|paragraphs %}<p style="white-space: pre-line;">{{ p }}</p>
{% endfor %}<p><a href="{{ item.url }}">Open in Collegium</a></p>
{% endif %}{% endfor %}{% endif %}<hr>
<p style="font-size: small; color: #666;">{% for u in unsubscribe %}<a href="{{ u.url }}">Unsubscribe from {{ u.category|label }} e-mails</a> · {% endfor %}<a href="{{ settings_url }}">Change what you receive</a></p>
</body></html>
"#;

/// How a category reads in a sentence.
pub fn category_label(category: &str) -> String {
    match category {
        "invitations" => "invitation",
        "changes" => "change",
        "reminders" => "reminder",
        "scoring" => "scoring",
        "compliance" => "compliance",
        "newsletters" => "newsletter",
        "account" => "account",
        other => other,
    }
    .to_string()
}

fn paragraphs(text: String) -> Vec<String> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The layouts, parsed once. HTML is auto-escaped (the `.html` name).
fn layouts() -> &'static Environment<'static> {
    static ENV: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_filter("label", category_label);
        env.add_filter("paragraphs", paragraphs);
        env.add_template("email.txt", TEXT_LAYOUT)
            .expect("the text layout parses");
        env.add_template("email.html", HTML_LAYOUT)
            .expect("the HTML layout parses");
        env
    })
}

impl Email {
    /// The plain-text and HTML parts.
    pub fn render(&self) -> Result<(String, String)> {
        let ctx = context! {
            name => self.recipient_name,
            subject => self.subject,
            items => self.items,
            digest => self.digest,
            unsubscribe => self.unsubscribe,
            settings_url => self.settings_url,
        };
        let env = layouts();
        let render = |name: &str| {
            env.get_template(name)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| Error::internal(anyhow::anyhow!("e-mail layout {name}: {e}")))
        };
        Ok((render("email.txt")?, render("email.html")?))
    }

    /// The MIME message from `from`. A malformed recipient address is a
    /// permanent failure.
    pub fn to_message(&self, from: &Mailbox) -> std::result::Result<Message, SendError> {
        let to: Mailbox = match self.recipient_name.is_empty() {
            true => self.to.parse(),
            false => format!("\"{}\" <{}>", self.recipient_name.replace('"', ""), self.to).parse(),
        }
        .or_else(|_| self.to.parse())
        .map_err(|e| SendError::Permanent(format!("malformed address: {e}")))?;
        let (text, html) = self
            .render()
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let mut builder = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(self.subject.clone())
            .message_id(Some(self.message_id.clone()));
        if let Some(first) = self.unsubscribe.first() {
            builder = builder
                .header(ListUnsubscribe(format!("<{}>", first.url)))
                .header(ListUnsubscribePost);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
    }
}

/// `<delivery id@domain>`: the same for every attempt of one delivery.
pub fn message_id(delivery: Uuid, from: &Mailbox) -> String {
    format!("<{delivery}@{}>", from.email.domain())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(digest: bool) -> Email {
        Email {
            message_id: "<x@example.org>".into(),
            to: "tia@example.org".into(),
            recipient_name: "Tia <Test>".into(),
            subject: "Network meeting".into(),
            items: vec![
                Item {
                    title: "Autumn meeting".into(),
                    body: "First line.\n\nSecond <b>paragraph</b>.".into(),
                    url: "https://collegium.example/events/1".into(),
                    category: Category::Invitations,
                    text: None,
                    html: None,
                };
                if digest { 2 } else { 1 }
            ],
            digest,
            unsubscribe: vec![Unsubscribe {
                category: Category::Invitations,
                url: "https://collegium.example/unsubscribe/t".into(),
            }],
            settings_url: "https://collegium.example/settings/notifications".into(),
        }
    }

    #[test]
    fn text_and_html_parts_carry_the_content_and_escape_html() {
        let (text, html) = email(false).render().unwrap();
        assert!(text.starts_with("Hello Tia <Test>,"), "{text}");
        assert!(text.contains("Second <b>paragraph</b>."));
        assert!(text.contains(
            "Unsubscribe from invitation e-mails: https://collegium.example/unsubscribe/t"
        ));
        assert!(html.contains("Hello Tia &lt;Test&gt;,"), "{html}");
        assert!(
            html.contains("Second &lt;b&gt;paragraph&lt;&#x2f;b&gt;.")
                || html.contains("Second &lt;b&gt;paragraph&lt;/b&gt;."),
            "{html}"
        );
        assert_eq!(
            html.matches("<p style=\"white-space: pre-line;\">").count(),
            2
        );
    }

    #[test]
    fn stored_parts_replace_the_body_and_are_not_escaped_again() {
        let mut e = email(false);
        e.items[0].text = Some("Rendered text.\nSee https://x/1".into());
        e.items[0].html = Some("<p>Rendered &lt;b&gt; <a href=\"https://x/1\">here</a></p>".into());
        let (text, html) = e.render().unwrap();
        assert!(text.contains("Rendered text.\nSee https://x/1"), "{text}");
        assert!(!text.contains("Second <b>paragraph</b>"), "{text}");
        assert!(!text.contains("Open in Collegium"), "{text}");
        assert!(
            html.contains("<p>Rendered &lt;b&gt; <a href=\"https://x/1\">here</a></p>"),
            "{html}"
        );
        assert!(!html.contains("Open in Collegium"), "{html}");
        assert!(html.contains("Hello Tia &lt;Test&gt;,"), "{html}");
        assert!(
            html.contains("Unsubscribe from invitation e-mails</a>"),
            "{html}"
        );
    }

    #[test]
    fn a_digest_lists_every_item() {
        let (text, html) = email(true).render().unwrap();
        assert!(text.contains("(2 messages)"), "{text}");
        assert_eq!(text.matches("* Autumn meeting").count(), 2);
        assert_eq!(html.matches("<li>").count(), 2);
    }

    #[test]
    fn the_message_has_the_one_click_headers_and_a_stable_id() {
        let from: Mailbox = "Collegium <no-reply@collegium.example>".parse().unwrap();
        let id = Uuid::now_v7();
        let mut e = email(false);
        e.message_id = message_id(id, &from);
        let raw = String::from_utf8(e.to_message(&from).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <https://collegium.example/unsubscribe/t>"),
            "{raw}"
        );
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains(&format!("Message-ID: <{id}@collegium.example>")));
        assert!(raw.contains("multipart/alternative"));
        e.to = "not an address".into();
        assert!(matches!(e.to_message(&from), Err(SendError::Permanent(_))));
    }

    #[test]
    fn unsubscribe_tokens_round_trip_and_secrets_are_stable_per_key() {
        let key = UnsubscribeKey::derive(b"material");
        let (t, p) = (TenantId::new_v7(), Uuid::now_v7());
        let s = key.secret(t, p, Category::Newsletters);
        assert_eq!(
            s,
            UnsubscribeKey::derive(b"material").secret(t, p, Category::Newsletters)
        );
        assert_ne!(s, key.secret(t, p, Category::Reminders));
        assert_ne!(
            s,
            UnsubscribeKey::derive(b"other").secret(t, p, Category::Newsletters)
        );
        let id = Uuid::now_v7();
        let token = unsubscribe_token(t, id, &s);
        assert_eq!(parse_unsubscribe_token(&token), Some((t, id, s.clone())));
        assert_eq!(parse_unsubscribe_token("nonsense"), None);
        assert_eq!(parse_unsubscribe_token(&format!("{t}.{id}.")), None);
        assert_eq!(secret_hash("abc").len(), 64);
    }
}
