//! Templates: per tenant, event type and locale (minijinja), with a fallback
//! to the tenant's locale's language, then English, then built-in defaults.
//!
//! A template has three parts, each a minijinja template over the variables
//! of its event type (listed in `routing`'s module doc): `subject` and
//! `text` are plain text, `html` is HTML whose `{{ … }}` output is escaped.
//! Undefined variables are errors (strict undefined), and [`check`] refuses
//! a template that names a variable its event type does not have, even in a
//! branch the samples do not take: a typo is caught when the template is
//! saved, not when the first cancellation goes out. Rendering is bounded
//! (minijinja "fuel"), so a tenant's template cannot loop for ever.
//!
//! The event type `custom` covers messages people write themselves (direct
//! triggers, cluster messages): variables `title`, `body` and `link`.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use platform::error::{Result, Violations};
use serde_json::{Value, json};

use super::routing::{self, *};
use super::{Category, Template};

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The event type of messages written by people (direct triggers, cluster
/// messages) rather than derived from a domain event.
pub const CUSTOM: &str = "custom";

/// The locale of the built-in templates.
pub const BUILTIN_LOCALE: &str = "en";

/// Instructions one render of one part may execute. The built-in templates
/// need a few hundred; a page-long newsletter with loops a few thousand.
const FUEL: u64 = 200_000;

/// Picks the template for `event_type` and `locale` among `templates`
/// ("en-GB" → "en-GB", then "en", then any "en-*"), else the built-in one.
///
/// In full, for a locale `ll-RR`: the exact locale, then the language `ll`,
/// then any `ll-*` (the first in alphabetical order, so the choice is
/// stable), then the same for English, then the built-in (English)
/// template; `None` only for an event type without a built-in template.
/// Locales compare case-insensitively. Pass the recipient's locale, or the
/// tenant's when the person has none.
pub fn pick<'a>(templates: &'a [Template], event_type: &str, locale: &str) -> Option<&'a Template> {
    let candidates: Vec<&Template> = templates
        .iter()
        .filter(|t| t.event_type == event_type)
        .collect();
    let language = language_of(locale);
    let mut languages = vec![language];
    if !language.eq_ignore_ascii_case(BUILTIN_LOCALE) {
        languages.push(BUILTIN_LOCALE);
    }
    let exact = candidates
        .iter()
        .find(|t| t.locale.eq_ignore_ascii_case(locale.trim()));
    exact
        .copied()
        .or_else(|| {
            languages.iter().find_map(|lang| {
                let same = |t: &&&Template| t.locale.eq_ignore_ascii_case(lang);
                let variant = |t: &&&Template| language_of(&t.locale).eq_ignore_ascii_case(lang);
                candidates.iter().find(same).copied().or_else(|| {
                    candidates
                        .iter()
                        .filter(variant)
                        .min_by_key(|t| t.locale.to_ascii_lowercase())
                        .copied()
                })
            })
        })
        .or_else(|| BUILTINS.iter().find(|t| t.event_type == event_type))
}

/// Renders a template with `vars`; an unknown variable is an error naming
/// it (strict undefined), so a broken template is caught when it is saved.
///
/// The subject comes out on one line (runs of white space, newlines
/// included, become one space): it goes into a mail header.
pub fn render(template: &Template, vars: &serde_json::Value) -> Result<Rendered> {
    let env = environment();
    let mut violations = Violations::new();
    let mut out: [String; 3] = Default::default();
    for (slot, (part, source)) in out.iter_mut().zip(parts(template)) {
        let rendered = env
            .template_from_named_str(part, source)
            .map_err(|e| e.to_string())
            .and_then(|tmpl| {
                tmpl.render(vars).map_err(|e| {
                    let known = names(vars);
                    match unknown_variables(&env, &tmpl, &known) {
                        unknown if e.kind() == ErrorKind::UndefinedError && !unknown.is_empty() => {
                            format!("{} ({e})", unknown_message(&unknown))
                        }
                        _ => e.to_string(),
                    }
                })
            });
        match rendered {
            Ok(s) => *slot = s,
            Err(message) => violations.add(part, message),
        }
    }
    violations.finish()?;
    let [subject, text, html] = out;
    Ok(Rendered {
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text,
        html,
    })
}

/// Checks a template before it is saved: it parses and renders with the
/// sample variables of its event type; errors name `subject`, `text` or `html`.
///
/// Every part is checked and every bad part reported. A part that names a
/// variable its event type lacks is refused ("unknown template variable
/// `titel`") without rendering; the others are rendered twice, with the
/// samples as routing produces them (some values `null`) and with every
/// `null` filled in, so both branches of `{% if reason %}` are tried.
pub fn check(template: &Template) -> Result<()> {
    let env = environment();
    let samples = sample_vars(&template.event_type);
    let known = names(&samples);
    let filled = fill_nulls(&samples);
    let mut violations = Violations::new();
    for (part, source) in parts(template) {
        let tmpl = match env.template_from_named_str(part, source) {
            Ok(t) => t,
            Err(e) => {
                violations.add(part, e.to_string());
                continue;
            }
        };
        let unknown = unknown_variables(&env, &tmpl, &known);
        if !unknown.is_empty() {
            violations.add(part, unknown_message(&unknown));
            continue;
        }
        if let Some(e) = [&samples, &filled]
            .into_iter()
            .find_map(|vars| tmpl.render(vars).err())
        {
            violations.add(part, e.to_string());
        }
    }
    violations.finish()
}

/// The variables of `event_type` with realistic values: exactly what
/// `routing` produces for that type's sample event (see
/// [`routing::sample`]), or `title`/`body`/`link` for `custom`; an empty
/// object for an event type nobody is told of.
pub fn sample_vars(event_type: &str) -> serde_json::Value {
    if event_type == CUSTOM {
        return json!({
            "title": "Study group moves to Thursdays",
            "body": "Dear colleagues,\n\nfrom next week the study group meets on Thursdays.",
            "link": "/clusters",
        });
    }
    routing::sample(event_type)
        .and_then(|(event, now)| routing::route(&event, now))
        .map_or_else(|| json!({}), |r| r.vars)
}

/// The built-in (English) template of an event type: every type `routing`
/// routes, and `custom`.
pub fn builtin(event_type: &str) -> Option<Template> {
    BUILTINS
        .iter()
        .find(|t| t.event_type == event_type)
        .cloned()
}

/// (Re)formats `starts_local` and `ends_local` from `starts_at`/`ends_at`
/// (RFC 3339) in `zone`: "Wednesday 14 October 2026, 16:00 BST"; the end
/// shows its time only when it falls on the same local day ("18:00 BST").
/// Routing formats them in the event's zone; the runtime may call this with
/// the recipient's. Missing or unreadable times give `null`.
pub fn localise(vars: &mut serde_json::Value, zone: Tz) {
    let Some(map) = vars.as_object_mut() else {
        return;
    };
    let time = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc).with_timezone(&zone))
    };
    const FULL: &str = "%A %-d %B %Y, %H:%M %Z";
    let starts = time("starts_at");
    let ends = time("ends_at");
    let starts_local = starts.map(|s| s.format(FULL).to_string());
    let ends_local = ends.map(|e| match starts {
        Some(s) if s.date_naive() == e.date_naive() => e.format("%H:%M %Z").to_string(),
        _ => e.format(FULL).to_string(),
    });
    map.insert("starts_local".into(), json!(starts_local));
    map.insert("ends_local".into(), json!(ends_local));
}

/// Strict undefined, fuel-bounded, and HTML escaping in the `html` part only.
fn environment<'s>() -> Environment<'s> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_fuel(Some(FUEL));
    env
}

fn parts(t: &Template) -> [(&'static str, &str); 3] {
    [
        ("subject", &t.subject),
        ("text", &t.text),
        ("html", &t.html),
    ]
}

/// Top-level variable names of `vars`.
fn names(vars: &Value) -> BTreeSet<String> {
    vars.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Variables the template reads that are neither in `known` nor globals of
/// the environment (`range`, `dict`, `namespace`), sorted.
fn unknown_variables(
    env: &Environment<'_>,
    tmpl: &minijinja::Template<'_, '_>,
    known: &BTreeSet<String>,
) -> Vec<String> {
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    let unknown: BTreeSet<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|n| !known.contains(n) && !globals.contains(n.as_str()))
        .collect();
    unknown.into_iter().collect()
}

fn unknown_message(unknown: &[String]) -> String {
    let quoted: Vec<String> = unknown.iter().map(|n| format!("`{n}`")).collect();
    if quoted.len() == 1 {
        format!("unknown template variable {}", quoted[0])
    } else {
        format!("unknown template variables {}", quoted.join(", "))
    }
}

/// `vars` with every `null` replaced by a short sample text.
fn fill_nulls(vars: &Value) -> Value {
    match vars {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if v.is_null() {
                        json!(format!("sample {}", k.replace('_', " ")))
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// "en" of "en-GB".
fn language_of(locale: &str) -> &str {
    let locale = locale.trim();
    locale.split(['-', '_']).next().unwrap_or(locale)
}

fn template(
    event_type: &str,
    category: Category,
    subject: &str,
    text: &str,
    html: &str,
) -> Template {
    Template {
        event_type: event_type.to_string(),
        category,
        locale: BUILTIN_LOCALE.to_string(),
        subject: subject.to_string(),
        text: text.to_string(),
        html: html.to_string(),
    }
}

/// "When … / Online …" lines shared by the event messages (text part).
const TEXT_WHEN: &str = r#"
{%- if starts_local %}

When: {{ starts_local }}{% if ends_local %} – {{ ends_local }}{% endif %}
{%- endif %}
{%- if online_url %}
Online: {{ online_url }}
{%- endif %}"#;

/// The same for the HTML part.
const HTML_WHEN: &str = r#"
{%- if starts_local %}
<p>When: {{ starts_local }}{% if ends_local %} – {{ ends_local }}{% endif %}</p>
{%- endif %}
{%- if online_url %}
<p>Online: <a href="{{ online_url }}">{{ online_url }}</a></p>
{%- endif %}"#;

const TITLE_TEXT: &str = r#"{% if title %}"{{ title }}"{% else %}an event{% endif %}"#;
const TITLE_HTML: &str =
    r#"{% if title %}<strong>{{ title }}</strong>{% else %}an event{% endif %}"#;

/// "the scoring session "…"" (or "a scoring session"), text and HTML.
const SESSION_TEXT: &str = r#"{% if session_name %}the scoring session "{{ session_name }}"{% else %}a scoring session{% endif %}"#;
const SESSION_HTML: &str = r#"{% if session_name %}the scoring session <strong>{{ session_name }}</strong>{% else %}a scoring session{% endif %}"#;
const SESSION_CAPITAL_TEXT: &str = r#"{% if session_name %}The scoring session "{{ session_name }}"{% else %}A scoring session{% endif %}"#;
const SESSION_CAPITAL_HTML: &str = r#"{% if session_name %}The scoring session <strong>{{ session_name }}</strong>{% else %}A scoring session{% endif %}"#;

/// One line per kind of read assigned ("- 12 first reads"), text part.
const READS_TEXT: &str = r#"
{%- if first_reads %}
- {{ first_reads }} first read{% if first_reads != 1 %}s{% endif %}
{%- endif %}
{%- if second_reads %}
- {{ second_reads }} second read{% if second_reads != 1 %}s{% endif %}
{%- endif %}
{%- if third_reads %}
- {{ third_reads }} third read{% if third_reads != 1 %}s{% endif %}
{%- endif %}
{%- if backreads %}
- {{ backreads }} backread{% if backreads != 1 %}s{% endif %}
{%- endif %}"#;

/// The same for the HTML part.
const READS_HTML: &str = r#"
{%- if first_reads %}
<li>{{ first_reads }} first read{% if first_reads != 1 %}s{% endif %}</li>
{%- endif %}
{%- if second_reads %}
<li>{{ second_reads }} second read{% if second_reads != 1 %}s{% endif %}</li>
{%- endif %}
{%- if third_reads %}
<li>{{ third_reads }} third read{% if third_reads != 1 %}s{% endif %}</li>
{%- endif %}
{%- if backreads %}
<li>{{ backreads }} backread{% if backreads != 1 %}s{% endif %}</li>
{%- endif %}"#;

/// Portfolios still waiting for the lead's third read at close, text part.
const AWAITING_TEXT: &str = r#"
{%- if awaiting_third_read %}

{% if awaiting_third_read == 1 %}One portfolio still awaits{% else %}{{ awaiting_third_read }} portfolios still await{% endif %} your third read.
{%- endif %}"#;

/// The same for the HTML part.
const AWAITING_HTML: &str = r#"
{%- if awaiting_third_read %}
<p>{% if awaiting_third_read == 1 %}One portfolio still awaits{% else %}{{ awaiting_third_read }} portfolios still await{% endif %} your third read.</p>
{%- endif %}"#;

static BUILTINS: LazyLock<Vec<Template>> = LazyLock::new(|| {
    let event = |event_type: &str,
                 category: Category,
                 subject: &str,
                 text_lead: &str,
                 text_tail: &str,
                 html_lead: &str,
                 html_tail: &str| {
        let text = format!("{text_lead}{TEXT_WHEN}\n\n{text_tail}");
        let html = format!("{html_lead}{HTML_WHEN}\n{html_tail}");
        let text = text.replace("{TITLE}", TITLE_TEXT);
        let html = html.replace("{TITLE}", TITLE_HTML);
        template(event_type, category, subject, &text, &html)
    };
    vec![
        event(
            RSVP_INVITED,
            Category::Invitations,
            "Invitation: {% if title %}{{ title }}{% else %}a new event{% endif %}",
            "You are invited to {TITLE}.",
            "Please let the organiser know whether you will come: {{ link }}",
            "<p>You are invited to {TITLE}.</p>",
            r#"<p><a href="{{ link }}">Let the organiser know whether you will come</a></p>"#,
        ),
        event(
            EVENT_CHANGED,
            Category::Changes,
            "Changed: {% if title %}{{ title }}{% else %}an event you are invited to{% endif %}",
            "The details of {TITLE} have changed.",
            "See the event: {{ link }}",
            "<p>The details of {TITLE} have changed.</p>",
            r#"<p><a href="{{ link }}">See the event</a></p>"#,
        ),
        template(
            EVENT_CANCELLED,
            Category::Changes,
            "Cancelled: {% if title %}{{ title }}{% else %}an event{% endif %}\
             {% if starts_local %} ({{ starts_local }}){% endif %}",
            &r#"{TITLE}{% if starts_local %} on {{ starts_local }}{% endif %} has been cancelled.
{%- if reason %}

Reason: {{ reason }}
{%- endif %}

See the event: {{ link }}"#
                .replace("{TITLE}", r#"{% if title %}"{{ title }}"{% else %}An event{% endif %}"#),
            &r#"<p>{TITLE}{% if starts_local %} on {{ starts_local }}{% endif %} has been cancelled.</p>
{%- if reason %}
<p>Reason: {{ reason }}</p>
{%- endif %}
<p><a href="{{ link }}">See the event</a></p>"#
                .replace("{TITLE}", r#"{% if title %}<strong>{{ title }}</strong>{% else %}An event{% endif %}"#),
        ),
        event(
            RSVP_PROMOTED,
            Category::Changes,
            "A seat is yours{% if title %}: {{ title }}{% endif %}",
            "A seat has come free at {TITLE} and it is yours: you have moved from the \
             waiting list to the participants.",
            "If you can no longer come, please decline, so that the next person on \
             the waiting list gets the seat: {{ link }}",
            "<p>A seat has come free at {TITLE} and it is yours: you have moved from \
             the waiting list to the participants.</p>",
            r#"<p>If you can no longer come, please <a href="{{ link }}">decline</a>, so that the next person on the waiting list gets the seat.</p>"#,
        ),
        event(
            REGISTRATION_APPROVED,
            Category::Changes,
            "Registration approved{% if title %}: {{ title }}{% endif %}",
            "Your registration for {TITLE} has been approved.\
             {% if status == 'waitlisted' %} The event is full, so you are on the waiting \
             list; we will tell you when a seat is yours.{% endif %}",
            "See the event: {{ link }}",
            "<p>Your registration for {TITLE} has been approved.\
             {% if status == 'waitlisted' %} The event is full, so you are on the waiting \
             list; we will tell you when a seat is yours.{% endif %}</p>",
            r#"<p><a href="{{ link }}">See the event</a></p>"#,
        ),
        event(
            REGISTRATION_DECLINED,
            Category::Changes,
            "Registration not approved{% if title %}: {{ title }}{% endif %}",
            "Your registration for {TITLE} was not approved by the organiser.",
            "See the event: {{ link }}",
            "<p>Your registration for {TITLE} was not approved by the organiser.</p>",
            r#"<p><a href="{{ link }}">See the event</a></p>"#,
        ),
        event(
            EVENT_REMINDER_DUE,
            Category::Reminders,
            "Reminder: {% if title %}{{ title }}{% else %}your event{% endif %}\
             {% if starts_local %}, {{ starts_local }}{% endif %}",
            "A reminder that you are taking part in {TITLE}.",
            "See the event: {{ link }}",
            "<p>A reminder that you are taking part in {TITLE}.</p>",
            r#"<p><a href="{{ link }}">See the event</a></p>"#,
        ),
        template(
            CLAIM_DECIDED,
            Category::Account,
            "Expense claim {% if status == 'approved' %}approved{% else %}not approved{% endif %}",
            r#"Your expense claim has {% if status == 'approved' %}been approved{% else %}not been approved{% endif %}.
{%- if reason %}

Reason: {{ reason }}
{%- endif %}

See the claim: {{ link }}"#,
            r#"<p>Your expense claim has {% if status == 'approved' %}been approved{% else %}not been approved{% endif %}.</p>
{%- if reason %}
<p>Reason: {{ reason }}</p>
{%- endif %}
<p><a href="{{ link }}">See the claim</a></p>"#,
        ),
        template(
            ROLE_GRANTED,
            Category::Account,
            "New role: {{ role_label }}",
            r#"You have been given the role "{{ role_label }}"{% if cluster_id %} in a cluster{% endif %}.

See your account: {{ link }}"#,
            r#"<p>You have been given the role <strong>{{ role_label }}</strong>{% if cluster_id %} in a cluster{% endif %}.</p>
<p><a href="{{ link }}">See your account</a></p>"#,
        ),
        template(
            CONSENT_WITHDRAWN,
            Category::Account,
            "Your consent has been withdrawn",
            r#"Your consent{% if purpose %} to "{{ purpose }}"{% if purpose_version %} (version {{ purpose_version }}){% endif %}{% endif %} has been withdrawn. If you did not ask for this, please contact your programme's administrator.

See your consents: {{ link }}"#,
            r#"<p>Your consent{% if purpose %} to <strong>{{ purpose }}</strong>{% if purpose_version %} (version {{ purpose_version }}){% endif %}{% endif %} has been withdrawn. If you did not ask for this, please contact your programme's administrator.</p>
<p><a href="{{ link }}">See your consents</a></p>"#,
        ),
        template(
            ASSIGNMENT_READY,
            Category::Scoring,
            "{% if total_reads == 1 %}A read{% else %}{{ total_reads }} reads{% endif %} to score\
             {% if session_name %}: {{ session_name }}{% endif %}",
            &r#"{% if total_reads == 1 %}A read has{% else %}{{ total_reads }} reads have{% endif %} been assigned to you in {SESSION}:
{READS}

See your reads: {{ link }}"#
                .replace("{SESSION}", SESSION_TEXT)
                .replace("{READS}", READS_TEXT),
            &r#"<p>{% if total_reads == 1 %}A read has{% else %}{{ total_reads }} reads have{% endif %} been assigned to you in {SESSION}:</p>
<ul>{READS}
</ul>
<p><a href="{{ link }}">See your reads</a></p>"#
                .replace("{SESSION}", SESSION_HTML)
                .replace("{READS}", READS_HTML),
        ),
        template(
            DISCREPANCY_DETECTED,
            Category::Scoring,
            "Third read needed: two reads of a portfolio disagree",
            r#"The first and second reads of a portfolio disagree, and your third read is needed to settle its score.
{%- if reason %}

Reason: {{ reason }}
{%- endif %}

Give the third read: {{ link }}"#,
            r#"<p>The first and second reads of a portfolio disagree, and your third read is needed to settle its score.</p>
{%- if reason %}
<p>Reason: {{ reason }}</p>
{%- endif %}
<p><a href="{{ link }}">Give the third read</a></p>"#,
        ),
        template(
            SCORER_FLAGGED,
            Category::Scoring,
            "Scorer flagged{% if scorer_name %}: {{ scorer_name }}{% endif %}",
            r#"{% if scorer_name %}{{ scorer_name }}'s{% else %}A scorer's{% endif %} agreement in the scoring session just closed crossed a threshold{% if reasons %}:
{%- for r in reasons %}
- {{ r }}
{%- endfor %}
{%- else %}.{% endif %}

Only you have been told; the scorer was not sent this message.

See the statistics: {{ link }}"#,
            r#"<p>{% if scorer_name %}<strong>{{ scorer_name }}</strong>'s{% else %}A scorer's{% endif %} agreement in the scoring session just closed crossed a threshold{% if reasons %}:</p>
<ul>
{%- for r in reasons %}
<li>{{ r }}</li>
{%- endfor %}
</ul>
{%- else %}.</p>{% endif %}
<p>Only you have been told; the scorer was not sent this message.</p>
<p><a href="{{ link }}">See the statistics</a></p>"#,
        ),
        template(
            SESSION_CLOSED,
            Category::Scoring,
            "Scoring session closed{% if session_name %}: {{ session_name }}{% endif %}",
            &r#"{SESSION} has been closed.{AWAITING}

See the session: {{ link }}"#
                .replace("{SESSION}", SESSION_CAPITAL_TEXT)
                .replace("{AWAITING}", AWAITING_TEXT),
            &r#"<p>{SESSION} has been closed.</p>{AWAITING}
<p><a href="{{ link }}">See the session</a></p>"#
                .replace("{SESSION}", SESSION_CAPITAL_HTML)
                .replace("{AWAITING}", AWAITING_HTML),
        ),
        // People's own messages; the category of each comes with its request.
        template(
            CUSTOM,
            Category::Newsletters,
            "{{ title }}",
            "{{ body }}{% if link %}\n\n{{ link }}{% endif %}",
            r#"<div style="white-space: pre-line">{{ body }}</div>
{%- if link %}
<p><a href="{{ link }}">{{ link }}</a></p>
{%- endif %}"#,
        ),
    ]
});

#[cfg(test)]
mod tests {
    use super::*;

    fn tpl(event_type: &str, locale: &str) -> Template {
        Template {
            locale: locale.to_string(),
            subject: format!("{locale} subject"),
            ..builtin(event_type).unwrap()
        }
    }

    fn custom(subject: &str, text: &str, html: &str) -> Template {
        Template {
            event_type: CUSTOM.into(),
            category: Category::Newsletters,
            locale: "en".into(),
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
        }
    }

    fn violations(e: platform::error::Error) -> Vec<(String, String)> {
        e.violations()
            .iter()
            .map(|v| (v.field.clone(), v.description.clone()))
            .collect()
    }

    // ---- pick

    #[test]
    fn pick_prefers_the_exact_locale_then_the_language_then_a_variant() {
        let t = RSVP_INVITED;
        let all = vec![tpl(t, "en-US"), tpl(t, "en"), tpl(t, "en-GB"), tpl(t, "de")];
        assert_eq!(pick(&all, t, "en-GB").unwrap().locale, "en-GB");
        assert_eq!(pick(&all, t, "en-gb").unwrap().locale, "en-GB");
        assert_eq!(pick(&all, t, "en-AU").unwrap().locale, "en");
        assert_eq!(pick(&all, t, "de-AT").unwrap().locale, "de");
        let variants = vec![tpl(t, "en-US"), tpl(t, "en-GB")];
        // No "en": the first variant alphabetically, whatever the order stored.
        assert_eq!(pick(&variants, t, "en-AU").unwrap().locale, "en-GB");
        assert_eq!(pick(&variants, t, "en").unwrap().locale, "en-GB");
    }

    #[test]
    fn pick_falls_back_to_english_then_the_builtin() {
        let t = EVENT_CANCELLED;
        let all = vec![tpl(t, "en-GB"), tpl(t, "fr")];
        assert_eq!(pick(&all, t, "es-MX").unwrap().locale, "en-GB");
        assert_eq!(pick(&all, t, "fr-CA").unwrap().locale, "fr");
        // Another event type's templates never stand in.
        let picked = pick(&all, EVENT_CHANGED, "fr").unwrap();
        assert_eq!(picked, &builtin(EVENT_CHANGED).unwrap());
        assert_eq!(pick(&[], t, "nl").unwrap(), &builtin(t).unwrap());
        assert_eq!(pick(&[], "scheduling.venue.created", "en"), None);
    }

    // ---- built-ins

    #[test]
    fn every_routed_type_and_custom_has_a_builtin_of_its_category() {
        for (event_type, category) in routing::ROUTED {
            let b = builtin(event_type).unwrap_or_else(|| panic!("{event_type}"));
            assert_eq!(b.category, *category, "{event_type}");
            assert_eq!(b.locale, "en");
        }
        assert_eq!(builtin(CUSTOM).unwrap().event_type, CUSTOM);
        assert_eq!(builtin("scheduling.event.published"), None);
    }

    #[test]
    fn every_builtin_passes_its_own_check_and_renders_its_sample() {
        for b in BUILTINS.iter() {
            check(b).unwrap_or_else(|e| panic!("{}: {e}", b.event_type));
            let r = render(b, &sample_vars(&b.event_type)).unwrap();
            assert!(!r.subject.is_empty() && !r.text.is_empty() && !r.html.is_empty());
            for part in [&r.subject, &r.text, &r.html] {
                assert!(!part.contains("none"), "{}: {part}", b.event_type);
                assert!(
                    !part.contains("{{") && !part.contains("{%"),
                    "{}",
                    b.event_type
                );
            }
            assert!(!r.subject.contains('\n'), "{}", b.event_type);
        }
    }

    #[test]
    fn the_cancellation_reads_well() {
        let r = render(
            &builtin(EVENT_CANCELLED).unwrap(),
            &sample_vars(EVENT_CANCELLED),
        )
        .unwrap();
        let link = sample_vars(EVENT_CANCELLED)["link"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            r.subject,
            "Cancelled: Autumn network meeting (Wednesday 14 October 2026, 16:00 BST)"
        );
        assert_eq!(
            r.text,
            format!(
                "\"Autumn network meeting\" on Wednesday 14 October 2026, 16:00 BST has been cancelled.\n\n\
                 Reason: The venue is closed for repairs\n\n\
                 See the event: {link}"
            )
        );
        // minijinja escapes `/` too (`&#x2f;`), which HTML decodes back.
        let escaped_link = link.replace('/', "&#x2f;");
        assert_eq!(
            r.html,
            format!(
                "<p><strong>Autumn network meeting</strong> on Wednesday 14 October 2026, 16:00 BST has been cancelled.</p>\n\
                 <p>Reason: The venue is closed for repairs</p>\n\
                 <p><a href=\"{escaped_link}\">See the event</a></p>"
            )
        );
    }

    #[test]
    fn the_reminder_lists_when_and_where() {
        let r = render(
            &builtin(EVENT_REMINDER_DUE).unwrap(),
            &sample_vars(EVENT_REMINDER_DUE),
        )
        .unwrap();
        let link = sample_vars(EVENT_REMINDER_DUE)["link"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            r.text,
            format!(
                "A reminder that you are taking part in \"Autumn network meeting\".\n\n\
                 When: Wednesday 14 October 2026, 16:00 BST – 18:00 BST\n\
                 Online: https://meet.example.org/autumn\n\n\
                 See the event: {link}"
            )
        );
    }

    #[test]
    fn the_invitation_reads_well_without_event_details() {
        let vars = sample_vars(RSVP_INVITED);
        let r = render(&builtin(RSVP_INVITED).unwrap(), &vars).unwrap();
        let link = vars["link"].as_str().unwrap();
        assert_eq!(r.subject, "Invitation: a new event");
        assert_eq!(
            r.text,
            format!(
                "You are invited to an event.\n\n\
                 Please let the organiser know whether you will come: {link}"
            )
        );
    }

    #[test]
    fn a_waitlisted_approval_says_so() {
        let mut vars = sample_vars(REGISTRATION_APPROVED);
        vars["status"] = json!("waitlisted");
        let r = render(&builtin(REGISTRATION_APPROVED).unwrap(), &vars).unwrap();
        assert!(r.text.contains("you are on the waiting list"), "{}", r.text);
    }

    #[test]
    fn ready_reads_are_listed_per_kind() {
        let vars = sample_vars(ASSIGNMENT_READY);
        let link = vars["link"].as_str().unwrap().to_string();
        let r = render(&builtin(ASSIGNMENT_READY).unwrap(), &vars).unwrap();
        assert_eq!(
            r.subject,
            "17 reads to score: Autumn moderation, Year 6 writing"
        );
        assert_eq!(
            r.text,
            format!(
                "17 reads have been assigned to you in the scoring session \"Autumn moderation, Year 6 writing\":\n\
                 - 12 first reads\n\
                 - 3 second reads\n\
                 - 2 backreads\n\n\
                 See your reads: {link}"
            )
        );
        assert_eq!(
            r.html,
            format!(
                "<p>17 reads have been assigned to you in the scoring session <strong>Autumn moderation, Year 6 writing</strong>:</p>\n\
                 <ul>\n\
                 <li>12 first reads</li>\n\
                 <li>3 second reads</li>\n\
                 <li>2 backreads</li>\n\
                 </ul>\n\
                 <p><a href=\"{}\">See your reads</a></p>",
                link.replace('/', "&#x2f;")
            )
        );
        // One read, no session name.
        let mut one = vars.clone();
        for (k, v) in [
            ("total_reads", json!(1)),
            ("first_reads", json!(0)),
            ("second_reads", json!(0)),
            ("third_reads", json!(1)),
            ("backreads", json!(0)),
            ("session_name", Value::Null),
        ] {
            one[k] = v;
        }
        let r = render(&builtin(ASSIGNMENT_READY).unwrap(), &one).unwrap();
        assert_eq!(r.subject, "A read to score");
        assert_eq!(
            r.text,
            format!(
                "A read has been assigned to you in a scoring session:\n- 1 third read\n\n\
                 See your reads: {link}"
            )
        );
    }

    #[test]
    fn a_discrepancy_asks_the_lead_for_the_third_read() {
        let vars = sample_vars(DISCREPANCY_DETECTED);
        let link = vars["link"].as_str().unwrap().to_string();
        let r = render(&builtin(DISCREPANCY_DETECTED).unwrap(), &vars).unwrap();
        assert_eq!(
            r.subject,
            "Third read needed: two reads of a portfolio disagree"
        );
        assert_eq!(
            r.text,
            format!(
                "The first and second reads of a portfolio disagree, and your third read is needed \
                 to settle its score.\n\n\
                 Reason: first and second reads differ by 3 points (4 and 1)\n\n\
                 Give the third read: {link}"
            )
        );
        let mut bare = vars.clone();
        bare["reason"] = Value::Null;
        let r = render(&builtin(DISCREPANCY_DETECTED).unwrap(), &bare).unwrap();
        assert!(!r.text.contains("Reason"), "{}", r.text);
        assert!(!r.html.contains("Reason"), "{}", r.html);
    }

    #[test]
    fn a_flagged_scorer_is_named_to_the_lead_with_the_reasons() {
        let mut vars = sample_vars(SCORER_FLAGGED);
        let link = vars["link"].as_str().unwrap().to_string();
        // As routed: the name is not known yet.
        let r = render(&builtin(SCORER_FLAGGED).unwrap(), &vars).unwrap();
        assert_eq!(r.subject, "Scorer flagged");
        assert!(r.text.starts_with("A scorer's agreement"), "{}", r.text);
        // As the runtime fills it in.
        routing::fill_scorer_name(&mut vars, "Tia <Jones>");
        let r = render(&builtin(SCORER_FLAGGED).unwrap(), &vars).unwrap();
        assert_eq!(r.subject, "Scorer flagged: Tia <Jones>");
        assert_eq!(
            r.text,
            format!(
                "Tia <Jones>'s agreement in the scoring session just closed crossed a threshold:\n\
                 - exact agreement 55% is below the 70% target\n\
                 - quadratic weighted kappa 0.512 is below the 0.70 minimum\n\n\
                 Only you have been told; the scorer was not sent this message.\n\n\
                 See the statistics: {link}"
            )
        );
        assert!(
            r.html.starts_with(
                "<p><strong>Tia &lt;Jones&gt;</strong>'s agreement in the scoring session just \
                 closed crossed a threshold:</p>\n<ul>\n\
                 <li>exact agreement 55% is below the 70% target</li>\n"
            ),
            "{}",
            r.html
        );
        // No reasons: a sentence, no empty list.
        vars["reasons"] = json!([]);
        let r = render(&builtin(SCORER_FLAGGED).unwrap(), &vars).unwrap();
        assert!(
            r.text
                .starts_with("Tia <Jones>'s agreement in the scoring session just closed crossed a threshold.\n\n"),
            "{}",
            r.text
        );
        assert!(!r.html.contains("<ul>"), "{}", r.html);
    }

    #[test]
    fn a_closed_session_counts_what_awaits_the_lead() {
        let vars = sample_vars(SESSION_CLOSED);
        let link = vars["link"].as_str().unwrap().to_string();
        let closed = |awaiting: Value| {
            let mut v = vars.clone();
            v["awaiting_third_read"] = awaiting;
            render(&builtin(SESSION_CLOSED).unwrap(), &v).unwrap()
        };
        let r = closed(json!(2));
        assert_eq!(
            r.subject,
            "Scoring session closed: Autumn moderation, Year 6 writing"
        );
        assert_eq!(
            r.text,
            format!(
                "The scoring session \"Autumn moderation, Year 6 writing\" has been closed.\n\n\
                 2 portfolios still await your third read.\n\n\
                 See the session: {link}"
            )
        );
        assert!(
            closed(json!(1))
                .text
                .contains("\n\nOne portfolio still awaits your third read.\n\n")
        );
        for nothing in [json!(0), Value::Null] {
            assert_eq!(
                closed(nothing).text,
                format!(
                    "The scoring session \"Autumn moderation, Year 6 writing\" has been closed.\n\n\
                     See the session: {link}"
                )
            );
        }
    }

    // ---- render

    #[test]
    fn html_is_escaped_in_the_html_part_only() {
        let t = custom("{{ title }}", "{{ body }}", "<p>{{ body }}</p>");
        let vars = json!({ "title": "Tom & Jerry <3", "body": "<script>x</script>", "link": "" });
        let r = render(&t, &vars).unwrap();
        assert_eq!(r.subject, "Tom & Jerry <3");
        assert_eq!(r.text, "<script>x</script>");
        assert_eq!(r.html, "<p>&lt;script&gt;x&lt;&#x2f;script&gt;</p>");
    }

    #[test]
    fn the_subject_comes_out_on_one_line() {
        let t = custom("  {{ title }}\n\n  again ", "x", "x");
        let vars = json!({ "title": "A\r\nBcc: evil@example.org", "body": "", "link": "" });
        assert_eq!(
            render(&t, &vars).unwrap().subject,
            "A Bcc: evil@example.org again"
        );
    }

    #[test]
    fn rendering_with_an_unknown_variable_names_it() {
        let t = custom(
            "{{ title }}",
            "Hello {{ name }}",
            "<p>{{ body.missing.deeper }}</p>",
        );
        let e = render(&t, &sample_vars(CUSTOM)).unwrap_err();
        assert_eq!(e.graphql_code(), "BAD_USER_INPUT");
        let v = violations(e);
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(v[0].0, "text");
        assert!(
            v[0].1.starts_with("unknown template variable `name`"),
            "{}",
            v[0].1
        );
        assert_eq!(v[1].0, "html");
        assert!(v[1].1.contains("undefined"), "{}", v[1].1);
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let t = custom(
            "{{ title }}",
            "{% for a in range(100000) %}{% for b in range(100000) %}.{% endfor %}{% endfor %}",
            "x",
        );
        let v = violations(render(&t, &sample_vars(CUSTOM)).unwrap_err());
        assert_eq!(v[0].0, "text");
        assert!(v[0].1.contains("fuel"), "{}", v[0].1);
    }

    #[test]
    fn no_includes_between_templates() {
        let t = custom("{{ title }}", "{% include 'other' %}", "x");
        let v = violations(check(&t).unwrap_err());
        assert_eq!(v[0].0, "text");
    }

    // ---- check

    #[test]
    fn check_names_each_bad_part_with_the_minijinja_message() {
        let t = Template {
            subject: "{{ title }".into(),
            text: "{% if reason %}{{ reason }}".into(),
            html: "<p>{{ titel }}</p>".into(),
            ..builtin(EVENT_CANCELLED).unwrap()
        };
        let v = violations(check(&t).unwrap_err());
        let fields: Vec<&str> = v.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["subject", "text", "html"]);
        assert!(
            v[0].1.contains("syntax error") && v[0].1.contains("(in subject:1)"),
            "{}",
            v[0].1
        );
        assert!(
            v[1].1.contains("syntax error") && v[1].1.contains("(in text:1)"),
            "{}",
            v[1].1
        );
        assert_eq!(v[2].1, "unknown template variable `titel`");
    }

    #[test]
    fn check_catches_unknown_variables_in_branches_not_taken() {
        // The sample has a reason, so the else branch never renders.
        let t = Template {
            text: "{% if reason %}{{ reason }}{% else %}{{ cancel_reason }} {{ why }}{% endif %}"
                .into(),
            ..builtin(EVENT_CANCELLED).unwrap()
        };
        let v = violations(check(&t).unwrap_err());
        assert_eq!(
            v,
            [(
                "text".to_string(),
                "unknown template variables `cancel_reason`, `why`".to_string()
            )]
        );
    }

    #[test]
    fn check_knows_each_event_types_variables() {
        let ok = |event_type: &str, text: &str| Template {
            text: text.into(),
            ..builtin(event_type).unwrap()
        };
        assert!(check(&ok(EVENT_CANCELLED, "{{ reason }}")).is_ok());
        assert!(check(&ok(ROLE_GRANTED, "{{ role_label }}")).is_ok());
        // A role grant has no event title.
        assert!(check(&ok(ROLE_GRANTED, "{{ title }}")).is_err());
        // Loop variables, set variables and globals are not unknown.
        assert!(
            check(&ok(
                CONSENT_WITHDRAWN,
                "{% set n = namespace(c=0) %}{% for x in range(2) %}{{ loop.index }}{{ x }}{% endfor %}{{ n.c }}{{ purpose | upper }}"
            ))
            .is_ok()
        );
    }

    #[test]
    fn check_tries_null_values_both_ways() {
        // `title` is null in an invitation's variables: its length fails
        // with the sample as routed.
        let t = Template {
            text: "{{ title | length }}".into(),
            ..builtin(RSVP_INVITED).unwrap()
        };
        assert_eq!(violations(check(&t).unwrap_err())[0].0, "text");
        // A template that only works while `title` is null fails with the
        // filled variant.
        let t = Template {
            text: "{{ (title or 1) + 1 }}".into(),
            ..builtin(RSVP_INVITED).unwrap()
        };
        assert!(check(&t).is_err());
    }

    // ---- sample vars and localise

    #[test]
    fn sample_vars_are_what_routing_produces() {
        for (event_type, _) in routing::ROUTED {
            let (event, now) = routing::sample(event_type).unwrap();
            assert_eq!(
                sample_vars(event_type),
                routing::route(&event, now).unwrap().vars
            );
        }
        assert_eq!(sample_vars("nobody.hears.of.this"), json!({}));
        assert_eq!(
            names(&sample_vars(CUSTOM)),
            ["body", "link", "title"].map(String::from).into()
        );
    }

    #[test]
    fn localise_formats_in_the_given_zone() {
        let mut vars = json!({
            "starts_at": "2026-10-24T23:30:00Z",
            "ends_at": "2026-10-25T02:30:00Z",
        });
        localise(&mut vars, chrono_tz::Europe::London);
        // Starts in BST, ends after the clocks went back, on the next day.
        assert_eq!(vars["starts_local"], "Sunday 25 October 2026, 00:30 BST");
        assert_eq!(vars["ends_local"], "02:30 GMT");
        localise(&mut vars, chrono_tz::America::Chicago);
        assert_eq!(vars["starts_local"], "Saturday 24 October 2026, 18:30 CDT");
        assert_eq!(vars["ends_local"], "21:30 CDT");
        let mut vars = json!({ "starts_at": null, "ends_at": "nonsense" });
        localise(&mut vars, chrono_tz::UTC);
        assert_eq!(vars["starts_local"], Value::Null);
        assert_eq!(vars["ends_local"], Value::Null);
    }
}
