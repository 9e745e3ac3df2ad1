//! The notifications service's part of the schema: the caller's in-app
//! inbox (listed, marked, archived, and pushed live over the `inboxItems`
//! subscription), their preferences, cluster newsletters, direct
//! notifications, the delivery log, templates, tenant settings and the
//! dead-letter list.
//!
//! Every resolver calls notifications with the caller's own bearer token
//! (the [`ForwardCaller`] interceptor); the tenant is never an argument, it
//! is in the token, and the service verifies it again. Lists are Relay
//! connections over the service's page tokens ([`paging`](super::paging)),
//! and relations go through membership's per-request loader (people,
//! clusters).
//!
//! The subscription runs on the graphql-ws route: the connection's caller
//! comes from `connection_init` (see the gateway's `http` module) and the
//! stream is notifications' `WatchInbox`, opened with that caller's token,
//! so the service alone decides which items are the caller's. The
//! one-click unsubscribe link of e-mails (`/unsubscribe/{token}`) is not
//! GraphQL: mail clients call it without a bearer token.

mod enums;
mod inputs;
mod types;

use async_graphql::{Context, ID, Object, Result, Subscription, futures_util::stream::BoxStream};
use collegium_proto::notifications::v1::{
    self as pb, notifications_service_client::NotificationsServiceClient,
};
use futures::StreamExt as _;
use platform::{auth::Principal, grpc::ForwardCaller};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

pub use enums::{DeliveryStatus, NotificationCategory, NotificationChannel, NotificationFrequency};
pub use inputs::*;
pub use types::*;

use super::{
    convert::{nodes, unary},
    paging::{Page, PageWith, connection, connection_with, page_request},
    unauthenticated,
};
use crate::{error::status_error, upstream::ForwardCallerStreaming};

/// A notifications client that sends the caller's token on every call.
pub(crate) type Client = NotificationsServiceClient<InterceptedService<Channel, ForwardCaller>>;

/// The same, for the inbox stream: the caller's token but no deadline.
pub(crate) type WatchClient =
    NotificationsServiceClient<InterceptedService<Channel, ForwardCallerStreaming>>;

/// Notifications as one caller sees it for one request (or one WebSocket
/// connection). No loader of its own: nothing in the schema refers to a
/// notification by id from elsewhere.
pub struct Notifications {
    client: Client,
    watch: WatchClient,
}

impl Notifications {
    /// `channel` is the shared connection; only the token differs per caller.
    pub fn for_caller(channel: &Channel, principal: &Principal) -> platform::Result<Self> {
        Ok(Self {
            client: NotificationsServiceClient::with_interceptor(
                channel.clone(),
                ForwardCaller::new(&principal.token)?,
            ),
            watch: NotificationsServiceClient::with_interceptor(
                channel.clone(),
                ForwardCallerStreaming::new(&principal.token)?,
            ),
        })
    }

    fn client(&self) -> Client {
        self.client.clone()
    }
}

/// The notifications handle of this request.
pub(crate) fn notifications<'a>(ctx: &Context<'a>) -> Result<&'a Notifications> {
    ctx.data_opt::<Notifications>().ok_or_else(unauthenticated)
}

fn id_filter(id: Option<ID>) -> Option<String> {
    id.map(|id| id.0)
}

#[derive(Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// The caller's in-app inbox, newest first, with the unread count of
    /// the whole inbox. Archived items only when asked for.
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default)] unread_only: bool,
        #[graphql(default)] include_archived: bool,
    ) -> Result<PageWith<InboxItem, InboxCounts>> {
        let n = notifications(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListInboxRequest {
            page: Some(page_request(first, after)?),
            unread_only,
            include_archived,
        };
        let page = unary(n.client().list_inbox(req)).await?;
        Ok(connection_with(
            after_given,
            nodes(page.items, |i| i.id.clone(), InboxItem),
            page.page,
            InboxCounts {
                unread_count: page.unread_count,
            },
        ))
    }

    /// The caller's preferences: per category and channel, digests, quiet
    /// hours.
    async fn notification_preferences(&self, ctx: &Context<'_>) -> Result<NotificationPreferences> {
        let n = notifications(ctx)?;
        Ok(NotificationPreferences(
            unary(n.client().get_preferences(pb::GetPreferencesRequest {})).await?,
        ))
    }

    /// What was sent to the cluster, newest first.
    async fn cluster_messages(
        &self,
        ctx: &Context<'_>,
        cluster_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<ClusterMessage>> {
        let n = notifications(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListClusterMessagesRequest {
            page: Some(page_request(first, after)?),
            cluster_id: cluster_id.0,
        };
        let page = unary(n.client().list_cluster_messages(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.messages, |m| m.id.clone(), ClusterMessage),
            page.page,
        ))
    }

    /// The delivery log: each notification to each person on each channel.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        notification_id: Option<ID>,
        status: Option<DeliveryStatus>,
        person_id: Option<ID>,
    ) -> Result<Page<Delivery>> {
        let n = notifications(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListDeliveriesRequest {
            page: Some(page_request(first, after)?),
            notification_id: id_filter(notification_id),
            status: status.map(|s| s.to_proto() as i32),
            person_id: id_filter(person_id),
        };
        let page = unary(n.client().list_deliveries(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.deliveries, |d| d.id.clone(), Delivery),
            page.page,
        ))
    }

    /// The tenant's templates.
    async fn notification_templates(&self, ctx: &Context<'_>) -> Result<Vec<NotificationTemplate>> {
        let n = notifications(ctx)?;
        let list = unary(n.client().list_templates(pb::ListTemplatesRequest {})).await?;
        Ok(list
            .templates
            .into_iter()
            .map(NotificationTemplate)
            .collect())
    }

    /// The tenant's notification settings.
    async fn notification_settings(&self, ctx: &Context<'_>) -> Result<NotificationSettings> {
        let n = notifications(ctx)?;
        Ok(NotificationSettings(
            unary(
                n.client()
                    .get_tenant_settings(pb::GetTenantSettingsRequest {}),
            )
            .await?,
        ))
    }

    /// The tenant's domain events parked after too many failed deliveries.
    async fn dead_letters(&self, ctx: &Context<'_>) -> Result<Vec<DeadLetter>> {
        let n = notifications(ctx)?;
        let list = unary(n.client().list_dead_letters(pb::ListDeadLettersRequest {})).await?;
        Ok(list.dead_letters.into_iter().map(DeadLetter).collect())
    }
}

#[derive(Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    /// Marks the caller's items read; ids of other items change nothing.
    async fn mark_read(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<MarkResult> {
        let n = notifications(ctx)?;
        Ok(unary(n.client().mark_read(mark_request(ids))).await?.into())
    }

    /// Marks every item of the caller's inbox read.
    async fn mark_all_read(&self, ctx: &Context<'_>) -> Result<MarkResult> {
        let n = notifications(ctx)?;
        Ok(unary(n.client().mark_all_read(pb::MarkAllReadRequest {}))
            .await?
            .into())
    }

    /// Archives the caller's items; ids of other items change nothing.
    async fn archive(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<MarkResult> {
        let n = notifications(ctx)?;
        Ok(unary(n.client().archive(mark_request(ids))).await?.into())
    }

    /// Replaces the caller's preferences.
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        input: NotificationPreferencesInput,
    ) -> Result<NotificationPreferences> {
        let n = notifications(ctx)?;
        Ok(NotificationPreferences(
            unary(n.client().update_preferences(pb::Preferences::from(input))).await?,
        ))
    }

    /// A cluster lead writes to their cluster (or one role in it). People
    /// who unsubscribed from newsletters are left out and counted.
    async fn send_cluster_message(
        &self,
        ctx: &Context<'_>,
        input: SendClusterMessageInput,
    ) -> Result<ClusterMessage> {
        let n = notifications(ctx)?;
        Ok(ClusterMessage(
            unary(
                n.client()
                    .send_cluster_message(pb::SendClusterMessageRequest::from(input)),
            )
            .await?,
        ))
    }

    /// Notifies the people directly (admins and services).
    async fn notify(&self, ctx: &Context<'_>, input: NotifyInput) -> Result<NotifyResult> {
        let n = notifications(ctx)?;
        Ok(unary(n.client().notify(pb::NotifyRequest::from(input)))
            .await?
            .into())
    }

    /// Creates or replaces the tenant's template for a category and locale.
    async fn set_notification_template(
        &self,
        ctx: &Context<'_>,
        input: NotificationTemplateInput,
    ) -> Result<NotificationTemplate> {
        let n = notifications(ctx)?;
        Ok(NotificationTemplate(
            unary(n.client().set_template(pb::Template::from(input))).await?,
        ))
    }

    /// Replaces the tenant's notification settings.
    async fn update_notification_settings(
        &self,
        ctx: &Context<'_>,
        input: NotificationSettingsInput,
    ) -> Result<NotificationSettings> {
        let n = notifications(ctx)?;
        Ok(NotificationSettings(
            unary(
                n.client()
                    .update_tenant_settings(pb::TenantSettings::from(input)),
            )
            .await?,
        ))
    }

    /// Hands a parked event to the service again. True when accepted.
    async fn replay_dead_letter(&self, ctx: &Context<'_>, event_id: ID) -> Result<bool> {
        let n = notifications(ctx)?;
        unary(n.client().replay_dead_letter(pb::ReplayDeadLetterRequest {
            event_id: event_id.0,
        }))
        .await?;
        Ok(true)
    }
}

#[derive(Default)]
pub struct NotificationsSubscription;

#[Subscription]
impl NotificationsSubscription {
    /// New items of the caller's inbox, as notifications stores them. The
    /// subscription ends when the service ends the stream; an error (the
    /// service unreachable, the token refused) is sent once, then it ends.
    async fn inbox_items(
        &self,
        ctx: &Context<'_>,
    ) -> Result<BoxStream<'static, Result<InboxItem>>> {
        let n = notifications(ctx)?;
        let upstream = n
            .watch
            .clone()
            .watch_inbox(pb::WatchInboxRequest {})
            .await
            .map_err(status_error)?
            .into_inner();
        Ok(inbox_stream(upstream).boxed())
    }
}

/// The upstream's items as the subscription's, ending at the upstream's end
/// or right after its first error. Dropping it (the client completes or
/// disconnects) drops the gRPC stream, which cancels the call upstream.
fn inbox_stream<S>(upstream: S) -> impl futures::Stream<Item = Result<InboxItem>> + Send + 'static
where
    S: futures::Stream<Item = Result<pb::InboxItem, tonic::Status>> + Send + Unpin + 'static,
{
    futures::stream::unfold(Some(upstream), |state| async move {
        let mut upstream = state?;
        match upstream.next().await? {
            Ok(item) => Some((Ok(InboxItem(item)), Some(upstream))),
            Err(status) => Some((Err(status_error(status)), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str) -> pb::InboxItem {
        pb::InboxItem {
            id: id.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn the_stream_ends_with_the_upstream_or_after_its_first_error() {
        let upstream = futures::stream::iter(vec![Ok(item("a")), Ok(item("b"))]);
        let got: Vec<_> = inbox_stream(upstream).collect().await;
        let ids: Vec<_> = got
            .iter()
            .map(|r| r.as_ref().unwrap().0.id.clone())
            .collect();
        assert_eq!(ids, ["a", "b"]);

        let upstream = futures::stream::iter(vec![
            Ok(item("a")),
            Err(tonic::Status::unauthenticated("token expired")),
            Ok(item("never")),
        ]);
        let got: Vec<_> = inbox_stream(upstream).collect().await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap().0.id, "a");
        let err = got[1].as_ref().err().unwrap();
        let ext = serde_json::to_value(err.extensions.as_ref().unwrap()).unwrap();
        assert_eq!(ext["code"], "UNAUTHENTICATED");
    }
}
