//! The HTTP surface: routes, handlers and the tower layers around them.
//!
//! | route | what |
//! |---|---|
//! | `POST /graphql` | GraphQL over HTTP; bearer token required |
//! | `GET /graphql` | GraphiQL, dev mode only |
//! | `GET /graphql/ws` | graphql-ws subscriptions; token in `connection_init` |
//! | `GET /calendar/{token}.ics` | a person's calendar feed; the feed token is the credential |
//! | `GET /unsubscribe/{token}` | a page asking to confirm, with a button; changes nothing |
//! | `POST /unsubscribe/{token}` | RFC 8058 one-click unsubscribe; the token is the credential |
//! | `GET /healthz` | the process is alive |
//! | `GET /readyz` | every upstream answers its gRPC health check |
//! | `GET /metrics` | Prometheus text |
//!
//! The API routes sit behind a span per request (child of the caller's W3C
//! trace), the CORS allow-list and the body limit. The calendar and
//! unsubscribe routes each have a span of their own that leaves the secret
//! token out of the path it records; calendar apps and mail clients are not
//! browser scripts, so they need no CORS. Probes and scrapes
//! have no span: they arrive every few seconds and would drown the traces
//! of real requests, and no browser calls them.

use std::{sync::Arc, time::Instant};

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State, WebSocketUpgrade, rejection::PathRejection},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use platform::auth::TokenVerifier;
use tower_http::{cors::CorsLayer, limit::RequestBodyLimitLayer, trace::TraceLayer};
use tracing::Instrument;

use crate::{
    GatewayConfig,
    auth::{self, Admission},
    error::graphql_error,
    metrics::{self, OperationSlot, Outcome},
    schema::{self, GatewaySchema, PublicUrl, SchemaLimits},
    upstream::Upstreams,
};

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct GatewayState {
    inner: Arc<Inner>,
}

struct Inner {
    config: GatewayConfig,
    schema: GatewaySchema,
    /// Dev mode only: answers introspection without the depth limit.
    introspection: Option<GatewaySchema>,
    upstreams: Upstreams,
    /// Set once shutdown has begun: readiness fails, requests are still served.
    draining: std::sync::atomic::AtomicBool,
}

impl GatewayState {
    /// Validates `config`, builds the schema and opens (lazily) one channel
    /// per upstream service.
    pub fn new(config: GatewayConfig) -> platform::Result<Self> {
        config.validate()?;
        let upstreams = Upstreams::connect(&config)?;
        let schema = schema::build(
            SchemaLimits {
                depth: config.query_depth_limit,
                complexity: config.query_complexity_limit,
                introspection: config.dev_mode,
            },
            PublicUrl(config.public_url.clone()),
        );
        let introspection = config.dev_mode.then(schema::build_introspection);
        // Installs the process-wide recorder before the first request is
        // counted; counts recorded with no recorder are lost.
        platform::telemetry::metrics_handle();
        metrics::describe();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                schema,
                introspection,
                upstreams,
                draining: Default::default(),
            }),
        })
    }

    /// Marks the gateway as draining: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The schema operations run on (for SDL export and in-process tests).
    pub fn schema(&self) -> &GatewaySchema {
        &self.inner.schema
    }

    fn verifier(&self) -> &TokenVerifier {
        &self.inner.config.verifier
    }
}

/// The gateway's routes with all their layers.
pub fn router(state: GatewayState) -> Router {
    let config = &state.inner.config;
    let graphql = if config.dev_mode {
        get(graphiql).post(graphql)
    } else {
        axum::routing::post(graphql)
    };
    let mut api = Router::new()
        .route("/graphql", graphql)
        .route("/graphql/ws", get(subscriptions))
        .layer(axum::middleware::from_fn_with_state(
            BodyLimits {
                body: config.max_body_bytes,
                upload: config.max_upload_bytes,
            },
            body_limit,
        ));
    if let Some(cors) = cors(&config.cors_origins) {
        api = api.layer(cors);
    }
    let api = api.layer(TraceLayer::new_for_http().make_span_with(
        |r: &http::Request<axum::body::Body>| platform::telemetry::request_span(r),
    ));
    let calendar = Router::new()
        .route("/calendar/{file}", get(calendar_feed))
        .layer(TraceLayer::new_for_http().make_span_with(calendar_span));
    let unsubscribe = Router::new()
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .layer(RequestBodyLimitLayer::new(MAX_UNSUBSCRIBE_BODY_BYTES))
        .layer(TraceLayer::new_for_http().make_span_with(unsubscribe_span));
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text));
    api.merge(calendar)
        .merge(unsubscribe)
        .merge(ops)
        .with_state(state)
}

/// The allow-list, or nothing at all when it is empty (browsers then refuse
/// every cross-origin call). Tokens travel in the `Authorization` header,
/// never in cookies, so credentials are not allowed: a page from a listed
/// origin must hold the token itself.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    // Validated at start (`GatewayConfig::validate`).
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::HeaderName::from_static("traceparent"),
                header::HeaderName::from_static("tracestate"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// The body limits of the API routes.
#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    body: usize,
    /// multipart/form-data (GraphQL file uploads).
    upload: usize,
}

/// Applies the upload limit to multipart requests and the body limit to the
/// rest (413 either way, before or while the body is read).
async fn body_limit(
    State(limits): State<BodyLimits>,
    request: http::Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    use tower::ServiceExt;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    let limit = if multipart {
        limits.upload
    } else {
        limits.body
    };
    let service = tower::ServiceBuilder::new()
        .layer(RequestBodyLimitLayer::new(limit))
        .map_request(|r: http::Request<_>| r.map(axum::body::Body::new))
        .service(next);
    match service.oneshot(request).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(never) => match never {},
    }
}

/// One GraphQL operation: admit the caller, execute, count.
async fn graphql(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let started = Instant::now();
    let slot = OperationSlot::default();
    let mut request = request.into_inner().data(slot.clone());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let admission = auth::admit(
        state.verifier(),
        state.inner.config.dev_mode,
        authorization,
        &mut request,
    );
    let response = match admission {
        Admission::Caller(principal) => {
            match schema::for_caller(request, principal, &state.inner.upstreams) {
                Ok(request) => state.inner.schema.execute(request).await,
                Err(err) => return refuse(err, started),
            }
        }
        Admission::Introspection => match &state.inner.introspection {
            Some(schema) => schema.execute(request).await,
            None => {
                state
                    .inner
                    .schema
                    .execute(request.only_introspection())
                    .await
            }
        },
        Admission::Refused(err) => return refuse(err, started),
    };
    let outcome = if response.errors.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Error
    };
    metrics::record(slot.label(), outcome, started.elapsed());
    GraphQLResponse::from(response).into_response()
}

/// The answer to a request refused before execution: one error, no data.
/// A missing or bad token gets 401 (with `WWW-Authenticate`, so HTTP-level
/// clients such as token-refreshing links see it too); anything else 403.
/// Nothing ran, so the operation type is unknown.
fn refuse(err: platform::Error, started: Instant) -> Response {
    tracing::debug!(error = %err, "GraphQL request refused");
    let unauthenticated = matches!(err, platform::Error::Unauthenticated(_));
    let (status, outcome) = if unauthenticated {
        (StatusCode::UNAUTHORIZED, Outcome::Unauthenticated)
    } else {
        (StatusCode::FORBIDDEN, Outcome::Error)
    };
    metrics::record("unknown", outcome, started.elapsed());
    let graphql = graphql_error(err);
    // Not tied to a place in the query, so no `locations`.
    let mut error = async_graphql::ServerError::new(graphql.message, None);
    error.extensions = graphql.extensions;
    let mut response =
        GraphQLResponse::from(async_graphql::Response::from_errors(vec![error])).into_response();
    *response.status_mut() = status;
    if unauthenticated {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// GraphiQL, pointed at this gateway (dev mode only; see [`router`]).
async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("Collegium GraphQL (dev)")
            .finish(),
    )
}

/// graphql-ws (and the legacy subscriptions-transport-ws) on one route.
/// Browsers cannot set headers on a WebSocket, so the token comes in the
/// `connection_init` payload; a connection without a valid one is closed
/// before any operation runs. Browsers apply no CORS to WebSockets, which is
/// safe here only because nothing is ambient: no cookie authenticates, a
/// foreign page would need the token itself. Loaders here only batch: a
/// connection lives far longer than a request, and a cache would serve
/// stale records.
async fn subscriptions(
    State(state): State<GatewayState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let span = tracing::Span::current();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            let schema = state.inner.schema.clone();
            let init_state = state.clone();
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let mut data = async_graphql::Data::default();
                    auth::principal_from_init_payload(init_state.verifier(), &payload)
                        .and_then(|principal| {
                            schema::caller_data(
                                &mut data,
                                principal,
                                &init_state.inner.upstreams,
                                false,
                            )
                        })
                        .map_err(graphql_error)?;
                    Ok(data)
                })
                .serve()
                .instrument(span)
        })
}

/// How long calendar apps may keep a feed before asking again. Most poll
/// hourly or daily anyway; five minutes spares the service a client that
/// polls too eagerly without making a change take long to arrive.
const CALENDAR_CACHE_CONTROL: &str = "private, max-age=300";

/// Longest feed or unsubscribe token accepted; real ones are far shorter.
const MAX_SECRET_TOKEN_LEN: usize = 512;

/// A person's calendar feed, `GET /calendar/<token>.ics`. Calendar apps send
/// no bearer token: the secret feed token in the URL is the credential, and
/// scheduling checks it (and takes the tenant from it). Anything that is not
/// a well-formed, live token is a bare 404, so the answer tells a guesser
/// nothing; a token that cannot be one is refused here, without a call.
async fn calendar_feed(State(state): State<GatewayState>, Path(file): Path<String>) -> Response {
    let Some(token) = feed_token(&file) else {
        return calendar_not_found();
    };
    let request = collegium_proto::scheduling::v1::RenderFeedRequest {
        token: token.to_string(),
    };
    match state
        .inner
        .upstreams
        .calendar_feeds()
        .render_feed(request)
        .await
    {
        Ok(answer) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/calendar; charset=utf-8"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(CALENDAR_CACHE_CONTROL),
                ),
            ],
            answer.into_inner().ics,
        )
            .into_response(),
        Err(status) => secret_link_failure(
            status,
            "calendar feed",
            "calendar temporarily unavailable\n",
        ),
    }
}

/// The answer when a service refuses or fails the secret token of a link
/// (calendar feed, unsubscribe). Whatever the reason for a refusal —
/// unknown, revoked, mistyped, another tenant's — it is the same bare 404,
/// so a guesser learns nothing; a service that cannot be reached is a 503
/// worth retrying. Only the status code is logged: a service's message is
/// not ours to vouch for, and must not carry the token into a log.
fn secret_link_failure(
    status: tonic::Status,
    what: &'static str,
    unavailable: &'static str,
) -> Response {
    let code = status.code();
    match platform::Error::from_status(status) {
        platform::Error::NotFound(_)
        | platform::Error::InvalidInput(_)
        | platform::Error::Unauthenticated(_)
        | platform::Error::Forbidden(_) => {
            tracing::debug!(?code, "{what}: token refused");
            secret_link_not_found()
        }
        platform::Error::Unavailable(_) => {
            tracing::warn!(?code, "{what}: service unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, HeaderValue::from_static("60"))],
                unavailable,
            )
                .into_response()
        }
        _ => {
            tracing::error!(?code, "{what}: service failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

/// Whether `token` has the shape of a secret link token: at most
/// [`MAX_SECRET_TOKEN_LEN`] bytes, one or more non-empty parts joined by
/// dots, each of URL-safe characters (letters, digits, `-`, `_`).
fn secret_token_shape(token: &str) -> bool {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    token.len() <= MAX_SECRET_TOKEN_LEN && token.split('.').all(part_ok)
}

/// The feed token of `<token>.ics`, if it has a token's shape: three
/// non-empty parts joined by dots, each of URL-safe characters (letters,
/// digits, `-`, `_`), as scheduling issues them.
fn feed_token(file: &str) -> Option<&str> {
    let token = file.strip_suffix(".ics")?;
    let well_formed = secret_token_shape(token) && token.split('.').count() == 3;
    well_formed.then_some(token)
}

fn calendar_not_found() -> Response {
    secret_link_not_found()
}

fn secret_link_not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// The request span of the calendar route: [`platform::telemetry::request_span`]
/// with the route's pattern as the path, so the secret token never reaches
/// a trace or a log line.
fn calendar_span(request: &http::Request<axum::body::Body>) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = "/calendar/{file}",
        otel.kind = "server",
    );
    platform::telemetry::set_parent_from_headers(&span, request.headers());
    span
}

/// Largest body the unsubscribe route reads: the one-click form is 26
/// bytes; a multipart one with its boundary a few hundred.
const MAX_UNSUBSCRIBE_BODY_BYTES: usize = 4096;

/// The unsubscribe token of the path, if it has a token's shape (see
/// [`secret_token_shape`]). Its inner format is notifications' business.
fn unsubscribe_token(path: Result<Path<String>, PathRejection>) -> Option<String> {
    let Path(token) = path.ok()?;
    secret_token_shape(&token).then_some(token)
}

/// Headers of both unsubscribe pages: nothing cached or indexed, the URL
/// (which holds the token) never sent on as a referrer, no scripts, no
/// framing, and the form may only post back here.
fn unsubscribe_headers() -> [(header::HeaderName, HeaderValue); 6] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::HeaderName::from_static("x-robots-tag"),
            HeaderValue::from_static("noindex, nofollow"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ]
}

fn unsubscribe_html(body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex, nofollow\">\
         <title>Unsubscribe · Collegium</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}\
         button{{font-size:1rem;padding:.5rem 1rem}}</style></head>\n\
         <body><main>{body}</main></body></html>\n"
    )
}

/// The confirmation page of an unsubscribe link, `GET /unsubscribe/<token>`.
/// It changes nothing and calls no service: mail scanners and link
/// previewers follow every link in a message, and a GET that unsubscribed
/// would unsubscribe people who never clicked. The button posts the RFC
/// 8058 one-click body back to the same URL (the form has no `action`, so
/// the token is not repeated in the page).
async fn unsubscribe_page(path: Result<Path<String>, PathRejection>) -> Response {
    if unsubscribe_token(path).is_none() {
        return secret_link_not_found();
    }
    let page = unsubscribe_html(
        "<h1>Unsubscribe</h1>\
         <p>Stop receiving these e-mails from Collegium?</p>\
         <form method=\"post\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form>",
    );
    (unsubscribe_headers(), page).into_response()
}

/// One-click unsubscribe, `POST /unsubscribe/<token>` (RFC 8058): what mail
/// clients send for a message's `List-Unsubscribe-Post` header, and what
/// the confirmation page's button sends. No bearer token: the unsubscribe
/// token is the credential, and notifications checks it (and takes the
/// tenant from it). A token that cannot be one is a bare 404 without a
/// call; a body other than `List-Unsubscribe=One-Click` a 400.
async fn unsubscribe(
    State(state): State<GatewayState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = unsubscribe_token(path) else {
        return secret_link_not_found();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_one_click(content_type, &body) {
        return (
            StatusCode::BAD_REQUEST,
            "bad request: the body must be List-Unsubscribe=One-Click\n",
        )
            .into_response();
    }
    let request = collegium_proto::notifications::v1::UnsubscribeRequest { token };
    match state
        .inner
        .upstreams
        .unsubscribe()
        .unsubscribe(request)
        .await
    {
        Ok(answer) => {
            let category = schema::notifications::NotificationCategory::from_proto(
                answer.into_inner().category,
            );
            let what = match category {
                Some(c) => format!(
                    "You will get no more e-mail about <strong>{}</strong> from Collegium.",
                    category_words(c)
                ),
                None => "You will get no more of these e-mails from Collegium.".to_string(),
            };
            let page = unsubscribe_html(&format!(
                "<h1>Unsubscribed</h1><p>{what}</p>\
                 <p>You can change this at any time in your notification preferences.</p>"
            ));
            (unsubscribe_headers(), page).into_response()
        }
        Err(status) => secret_link_failure(
            status,
            "unsubscribe",
            "unsubscribe temporarily unavailable; please try again later\n",
        ),
    }
}

/// A category as people read it: `newsletters`, `changes and
/// cancellations`.
fn category_words(category: schema::notifications::NotificationCategory) -> &'static str {
    use schema::notifications::NotificationCategory as C;
    match category {
        C::Invitations => "invitations",
        C::Changes => "changes and cancellations",
        C::Reminders => "reminders",
        C::Scoring => "scoring work",
        C::Compliance => "programme rules",
        C::Newsletters => "cluster newsletters",
        C::Account => "your account",
    }
}

/// Whether the body is the RFC 8058 one-click form: `List-Unsubscribe` =
/// `One-Click`, sent as `application/x-www-form-urlencoded` (what browsers
/// and most mail providers send; also assumed when no type is given) or as
/// `multipart/form-data`.
fn is_one_click(content_type: Option<&str>, body: &[u8]) -> bool {
    let Ok(body) = std::str::from_utf8(body) else {
        return false;
    };
    let mime = content_type
        .unwrap_or("application/x-www-form-urlencoded")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" => body
            .trim()
            .split('&')
            .any(|pair| pair == "List-Unsubscribe=One-Click"),
        "multipart/form-data" => {
            let Some(boundary) = content_type.and_then(multipart_boundary) else {
                return false;
            };
            body.split(&format!("--{boundary}")).any(|part| {
                let Some((head, value)) = part.split_once("\r\n\r\n") else {
                    return false;
                };
                let named = head.lines().any(|line| {
                    let line = line.to_ascii_lowercase();
                    line.starts_with("content-disposition:")
                        && line.contains("name=\"list-unsubscribe\"")
                });
                named && value.trim_end_matches(['\r', '\n']) == "One-Click"
            })
        }
        _ => false,
    }
}

/// The `boundary` parameter of a multipart content type, unquoted.
fn multipart_boundary(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"'))
            .filter(|b| !b.is_empty())
    })
}

/// The request span of the unsubscribe route: like [`calendar_span`], the
/// route's pattern stands in for the path, so the token is never recorded.
fn unsubscribe_span(request: &http::Request<axum::body::Body>) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = "/unsubscribe/{token}",
        otel.kind = "server",
    );
    platform::telemetry::set_parent_from_headers(&span, request.headers());
    span
}

/// Alive: the process answers HTTP. Deliberately checks nothing else, so a
/// slow upstream never gets the gateway restarted.
async fn healthz() -> &'static str {
    "ok"
}

/// Ready: every upstream service answers its health check in time. The
/// body names each failing upstream and why, for whoever reads the probe.
async fn readyz(State(state): State<GatewayState>) -> Response {
    if state
        .inner
        .draining
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "draining" })),
        )
            .into_response();
    }
    let checks = state.inner.upstreams.check().await;
    let failing: Vec<_> = checks
        .iter()
        .filter_map(|c| {
            c.problem
                .as_ref()
                .map(|p| serde_json::json!({ "upstream": c.name, "problem": p }))
        })
        .collect();
    if failing.is_empty() {
        (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        )
            .into_response()
    } else {
        tracing::warn!(?failing, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable", "failing": failing })),
        )
            .into_response()
    }
}

/// Prometheus text exposition of every metric of the process.
async fn metrics_text() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        platform::telemetry::metrics_handle().render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_tokens_are_url_safe_parts_of_any_number() {
        for good in [
            "abc",
            "0190f1e2-aaaa-7bbb-8ccc-123456789abc.0190f1e2-aaaa-7bbb-8ccc-123456789abd.x_Y-z",
            "a.b",
        ] {
            assert!(secret_token_shape(good), "{good}");
        }
        for bad in [
            "",
            "a..b",
            ".a",
            "a.",
            "a/b",
            "a b",
            "a=",
            "a%20b",
            "ä",
            &"a".repeat(MAX_SECRET_TOKEN_LEN + 1),
        ] {
            assert!(!secret_token_shape(bad), "{bad}");
        }
    }

    #[test]
    fn the_one_click_body_is_recognised_in_both_encodings() {
        let form = Some("application/x-www-form-urlencoded");
        assert!(is_one_click(form, b"List-Unsubscribe=One-Click"));
        assert!(is_one_click(
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            b"List-Unsubscribe=One-Click\r\n"
        ));
        assert!(is_one_click(None, b"List-Unsubscribe=One-Click"));
        assert!(is_one_click(form, b"x=1&List-Unsubscribe=One-Click"));
        for bad in [
            &b""[..],
            b"List-Unsubscribe=Yes",
            b"list-unsubscribe=one-click",
            b"List-Unsubscribe=One-Click-Not",
            b"\xff",
        ] {
            assert!(!is_one_click(form, bad), "{bad:?}");
        }
        assert!(!is_one_click(
            Some("text/plain"),
            b"List-Unsubscribe=One-Click"
        ));
        let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n\
                         One-Click\r\n--XyZ--\r\n";
        assert!(is_one_click(
            Some("multipart/form-data; boundary=XyZ"),
            multipart.as_bytes()
        ));
        assert!(is_one_click(
            Some("multipart/form-data; boundary=\"XyZ\""),
            multipart.as_bytes()
        ));
        assert!(!is_one_click(
            Some("multipart/form-data"),
            multipart.as_bytes()
        ));
        assert!(!is_one_click(
            Some("multipart/form-data; boundary=XyZ"),
            multipart.replace("One-Click", "Nope").as_bytes()
        ));
    }

    #[test]
    fn feed_tokens_are_three_url_safe_parts_before_ics() {
        assert_eq!(feed_token("a.b.c.ics"), Some("a.b.c"));
        assert_eq!(
            feed_token("0190f1e2-aaaa-7bbb-8ccc-123456789abc.x_Y-z.Zm9v.ics"),
            Some("0190f1e2-aaaa-7bbb-8ccc-123456789abc.x_Y-z.Zm9v")
        );
        for bad in [
            "a.b.c",
            "a.b.ics",
            "a.b.c.d.ics",
            "a..c.ics",
            ".b.c.ics",
            "a.b.c.ICS",
            "a.b/c.d.ics",
            "a.b.c%20.ics",
            "a.b.c d.ics",
            "a.b.c=.ics",
            ".ics",
            "",
        ] {
            assert_eq!(feed_token(bad), None, "{bad}");
        }
        let long = format!("{}.b.c.ics", "a".repeat(MAX_SECRET_TOKEN_LEN));
        assert_eq!(feed_token(&long), None);
    }
}
