//! The services behind the gateway: one gRPC channel each, opened once at
//! start and shared by every request (a channel multiplexes HTTP/2 streams;
//! only the bearer token differs per caller and travels in an interceptor),
//! and the readiness check `/readyz` runs against them. Also the clients
//! that carry no caller's token: [`Upstreams::calendar_feeds`] and
//! [`Upstreams::unsubscribe`], whose secret tokens are the credential.

use std::time::Duration;

use collegium_proto::{
    notifications::v1::unsubscribe_service_client::UnsubscribeServiceClient,
    scheduling::v1::calendar_feed_service_client::CalendarFeedServiceClient,
};
use futures::future::join_all;
use tonic::{
    Request, Status,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::config::GatewayConfig;

/// How long `/readyz` waits for one upstream's health answer. Short: a
/// probe that hangs is as bad as one that fails, and the kubelet has its own
/// timeout around ours.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// Channels to every upstream service.
#[derive(Clone, Debug)]
pub struct Upstreams {
    pub membership: Channel,
    pub scheduling: Channel,
    pub notifications: Channel,
    pub scoring: Channel,
}

/// One upstream's answer to the readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHealth {
    pub name: &'static str,
    /// `None` when serving, else why not.
    pub problem: Option<String>,
}

impl Upstreams {
    /// Lazily connecting channels: the gateway starts (and answers
    /// `/healthz`) even while a service is still coming up.
    pub fn connect(config: &GatewayConfig) -> platform::Result<Self> {
        Self::to(
            &config.membership_url,
            &config.scheduling_url,
            &config.notifications_url,
            &config.scoring_url,
        )
    }

    /// Lazily connecting channels to the four services at these URLs.
    pub fn to(
        membership: &str,
        scheduling: &str,
        notifications: &str,
        scoring: &str,
    ) -> platform::Result<Self> {
        Self::to_with_deadline(
            membership,
            scheduling,
            notifications,
            scoring,
            platform::grpc::DEFAULT_DEADLINE,
        )
    }

    /// [`Self::to`] with calls allowed up to `deadline` (background jobs).
    pub fn to_with_deadline(
        membership: &str,
        scheduling: &str,
        notifications: &str,
        scoring: &str,
        deadline: std::time::Duration,
    ) -> platform::Result<Self> {
        let channel = |url| platform::grpc::channel_with_deadline(url, deadline);
        Ok(Self {
            membership: channel(membership)?,
            scheduling: channel(scheduling)?,
            notifications: channel(notifications)?,
            scoring: channel(scoring)?,
        })
    }

    fn named(&self) -> Vec<(&'static str, Channel)> {
        vec![
            ("membership", self.membership.clone()),
            ("scheduling", self.scheduling.clone()),
            ("notifications", self.notifications.clone()),
            ("scoring", self.scoring.clone()),
        ]
    }

    /// Scheduling's calendar-feed service, called without a bearer token:
    /// calendar apps present only the feed token, which is the credential.
    pub fn calendar_feeds(
        &self,
    ) -> CalendarFeedServiceClient<InterceptedService<Channel, Anonymous>> {
        CalendarFeedServiceClient::with_interceptor(self.scheduling.clone(), Anonymous)
    }

    /// Notifications' unsubscribe service, called without a bearer token:
    /// the one-click link in an e-mail carries only the unsubscribe token,
    /// which is the credential (RFC 8058).
    pub fn unsubscribe(&self) -> UnsubscribeServiceClient<InterceptedService<Channel, Anonymous>> {
        UnsubscribeServiceClient::with_interceptor(self.notifications.clone(), Anonymous)
    }

    /// Asks every upstream's `grpc.health.v1` service at once. The overall
    /// server status (service name `""`) is checked: the platform's gRPC kit
    /// always sets it, and flips it to NOT_SERVING when a service drains.
    pub async fn check(&self) -> Vec<UpstreamHealth> {
        join_all(self.named().into_iter().map(|(name, channel)| async move {
            let problem = check_one(channel).await.err();
            UpstreamHealth { name, problem }
        }))
        .await
    }
}

/// What [`ForwardCaller`](platform::grpc::ForwardCaller) sends on a call,
/// minus the caller's token: the trace context and a deadline.
#[derive(Clone, Copy, Debug)]
pub struct Anonymous;

impl Interceptor for Anonymous {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let mut headers = http::HeaderMap::new();
        platform::telemetry::inject_current_context(&mut headers);
        for (name, value) in &headers {
            if let (Ok(key), Ok(value)) = (
                tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()),
                value.to_str().map(str::parse),
            ) && let Ok(value) = value
            {
                request.metadata_mut().insert(key, value);
            }
        }
        if request.metadata().get("grpc-timeout").is_none() {
            request.set_timeout(platform::grpc::DEFAULT_DEADLINE);
        }
        Ok(request)
    }
}

/// What [`ForwardCaller`](platform::grpc::ForwardCaller) sends — the
/// caller's token and the trace context — minus the deadline, for a
/// server-streaming call that lives as long as its subscriber (a GraphQL
/// subscription may stay open for hours; a deadline would cut it off, and
/// the service would rightly end the stream there). Opening the stream is
/// still bounded: the channel's own timeout covers the wait for the
/// service's response headers.
#[derive(Clone, Debug)]
pub struct ForwardCallerStreaming(platform::grpc::ForwardCaller);

impl ForwardCallerStreaming {
    pub fn new(token: &str) -> platform::Result<Self> {
        platform::grpc::ForwardCaller::new(token).map(Self)
    }
}

impl Interceptor for ForwardCallerStreaming {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let mut request = self.0.call(request)?;
        request.metadata_mut().remove("grpc-timeout");
        Ok(request)
    }
}

async fn check_one(channel: Channel) -> Result<(), String> {
    let mut client = HealthClient::new(channel);
    let call = client.check(HealthCheckRequest {
        service: String::new(),
    });
    match tokio::time::timeout(READINESS_TIMEOUT, call).await {
        Err(_) => Err(format!(
            "no answer within {} ms",
            READINESS_TIMEOUT.as_millis()
        )),
        Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
        Ok(Ok(response)) => match response.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(format!("reports {}", other.as_str_name())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_calls_carry_the_token_but_no_deadline() {
        let mut forward = platform::grpc::ForwardCaller::new("tok").unwrap();
        let unary = forward.call(Request::new(())).unwrap();
        assert!(unary.metadata().get("grpc-timeout").is_some());
        let mut streaming = ForwardCallerStreaming::new("tok").unwrap();
        let request = streaming.call(Request::new(())).unwrap();
        assert_eq!(
            request.metadata().get("authorization").unwrap(),
            "Bearer tok"
        );
        assert!(request.metadata().get("grpc-timeout").is_none());
        assert!(ForwardCallerStreaming::new("bad\ntoken").is_err());
    }
}
