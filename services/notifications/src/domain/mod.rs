//! Notifications' domain: what a person is told, through which channel and
//! when. Pure rules (preferences, quiet hours, digest timing, templates,
//! which domain event becomes which message) live in the submodules; `store`
//! persists these types, `api` maps them to gRPC, the workers deliver.

pub mod preferences;
pub mod render;
pub mod routing;
pub mod validate;

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

str_enum!(
    /// What a message is about; preferences are set per category.
    Category {
        Invitations = "invitations",
        Changes = "changes",
        Reminders = "reminders",
        Scoring = "scoring",
        Compliance = "compliance",
        Newsletters = "newsletters",
        Account = "account",
    }
);

str_enum!(
    Channel {
        InApp = "in_app",
        Email = "email",
    }
);

str_enum!(
    Frequency {
        Immediately = "immediately",
        Daily = "daily",
        Weekly = "weekly",
        Off = "off",
    }
);

str_enum!(
    DeliveryStatus {
        Queued = "queued",
        Sent = "sent",
        Failed = "failed",
        Held = "held",
        Skipped = "skipped",
    }
);

/// One message in a person's inbox (every notification has one, whatever
/// the e-mail preference: a failing e-mail never blocks the in-app copy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: Uuid,
    pub person_id: Uuid,
    pub category: Category,
    pub title: String,
    pub body: String,
    pub link: String,
    pub critical: bool,
    /// The domain event it came from (idempotency: one per event and person).
    pub source_event_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    /// The e-mail as the template rendered it when the message was queued
    /// (with absolute links). `None` for people's own messages: their e-mail
    /// lays out `title` and `body`, as a digest does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailParts>,
}

/// A rendered e-mail: subject and plain text, and HTML whose variables are
/// already escaped (the delivery worker inserts it into its layout as is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailParts {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One attempt plan to reach a person through one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: Uuid,
    pub notification_id: Uuid,
    pub person_id: Uuid,
    pub channel: Channel,
    /// E-mail address at the time of queueing.
    pub address: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When to try (again): now, after quiet hours, or at the digest time.
    pub next_attempt_at: DateTime<Utc>,
    /// Digest deliveries are batched per person and run.
    pub digest: bool,
    pub updated_at: DateTime<Utc>,
}

/// A person's settings; absent entries mean the defaults of `preferences`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub person_id: Uuid,
    pub entries: Vec<(Category, Channel, Frequency)>,
    pub digest_time: NaiveTime,
    /// ISO weekday 1..=7 for weekly digests.
    pub digest_weekday: u32,
    pub time_zone: Option<String>,
    pub quiet_hours: Option<(NaiveTime, NaiveTime)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub event_type: String,
    pub category: Category,
    pub locale: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMessage {
    pub id: Uuid,
    pub cluster_id: Uuid,
    pub role: Option<String>,
    pub subject: String,
    pub body: String,
    pub sent_by: String,
    pub sent_at: DateTime<Utc>,
    pub recipients: u32,
    pub unsubscribed: u32,
}

/// A person as far as delivering to them goes (asked of membership).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub person_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub time_zone: Option<String>,
}

/// A tenant's notification settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    /// Hours before an event that its reminder goes to those who accepted.
    pub reminder_lead_hours: u32,
    /// Categories whose messages bypass digests and quiet hours.
    pub critical_categories: Vec<Category>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            reminder_lead_hours: 24,
            critical_categories: vec![],
        }
    }
}
