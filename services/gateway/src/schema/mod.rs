//! The one GraphQL schema over every Collegium service.
//!
//! Each service contributes its own query and mutation objects (and, for
//! notifications, a subscription object) from its own module
//! (`membership.rs`, `scheduling.rs`, `notifications.rs`, `scoring.rs`),
//! merged here with `MergedObject` / `MergedSubscription`, so adding a
//! service means adding a file and one line in each root below — no
//! resolver of one service lives in another's file.
//!
//! Per request, [`for_caller`] puts the verified [`Principal`] into the
//! request data together with each service's client and DataLoaders built
//! for that caller: a loader's cache lives exactly as long as one request, so
//! nothing loaded for one tenant or caller is ever served to another.

pub(crate) mod convert;
pub mod membership;
pub mod notifications;
pub(crate) mod paging;
pub mod privacy;
pub mod retention;
pub mod roster_import;
pub mod scheduling;
pub mod scoring;

use async_graphql::{Data, MergedObject, MergedSubscription, Schema};
use platform::{Error, auth::Principal};

use crate::{error::graphql_error, metrics::OperationTypeProbe, upstream::Upstreams};

/// Every query of every service.
#[derive(MergedObject, Default)]
pub struct Query(
    membership::MembershipQuery,
    roster_import::RosterImportQuery,
    scheduling::SchedulingQuery,
    notifications::NotificationsQuery,
    scoring::ScoringQuery,
    privacy::PrivacyQuery,
    retention::RetentionQuery,
);

/// Every mutation of every service.
#[derive(MergedObject, Default)]
pub struct Mutation(
    membership::MembershipMutation,
    roster_import::RosterImportMutation,
    scheduling::SchedulingMutation,
    notifications::NotificationsMutation,
    scoring::ScoringMutation,
    privacy::PrivacyMutation,
    retention::RetentionMutation,
);

/// Every subscription of every service (served over graphql-ws only).
#[derive(MergedSubscription, Default)]
pub struct Subscription(notifications::NotificationsSubscription);

/// The gateway's schema.
pub type GatewaySchema = Schema<Query, Mutation, Subscription>;

/// Query limits and exposure, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    pub depth: usize,
    pub complexity: usize,
    /// Introspection on (dev mode) or off.
    pub introspection: bool,
}

/// The gateway's address as the outside world reaches it
/// (`COLLEGIUM_PUBLIC_URL`), for links it hands out: calendar feed URLs.
#[derive(Debug, Clone)]
pub struct PublicUrl(pub String);

/// Parser recursion limit (nested selection sets, list and object values).
/// At least twice the depth limit, so a legal query never trips it first.
fn recursive_depth_limit(depth: usize) -> usize {
    (depth * 2).max(32)
}

/// Bytes of cached persisted-query documents are bounded by entry count;
/// 2,000 covers every operation of a few client versions.
#[cfg(feature = "persisted-queries")]
const PERSISTED_QUERY_CACHE_ENTRIES: usize = 2000;

/// The schema every operation runs on.
pub fn build(limits: SchemaLimits, public_url: PublicUrl) -> GatewaySchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .data(public_url)
    .limit_depth(limits.depth)
    .limit_complexity(limits.complexity)
    .limit_recursive_depth(recursive_depth_limit(limits.depth));
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    // The persisted-query cache maps a SHA-256 of the query text to the
    // parsed text, and the extension checks the hash before storing, so one
    // cache can serve every tenant: it holds no data, only operations.
    #[cfg(feature = "persisted-queries")]
    {
        use async_graphql::extensions::apollo_persisted_queries::{
            ApolloPersistedQueries, LruCacheStorage,
        };
        builder = builder.extension(ApolloPersistedQueries::new(LruCacheStorage::new(
            PERSISTED_QUERY_CACHE_ENTRIES,
        )));
    }
    // After the persisted-query extension, so it sees the restored document.
    builder.extension(OperationTypeProbe).finish()
}

/// A schema that answers only introspection, without the depth limit: the
/// introspection query GraphiQL sends nests `ofType` eight levels deep and
/// would never fit a production depth limit. Used in dev mode only.
pub fn build_introspection() -> GatewaySchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .introspection_only()
    .limit_recursive_depth(64)
    .extension(OperationTypeProbe)
    .finish()
}

/// The request data of one verified caller: the principal, and every
/// service's client and loaders acting with the caller's own token. With
/// `cache` off (long-lived WebSocket connections) loaders only batch.
pub fn caller_data(
    data: &mut Data,
    principal: Principal,
    upstreams: &Upstreams,
    cache: bool,
) -> platform::Result<()> {
    data.insert(membership::Membership::for_caller(
        &upstreams.membership,
        &principal,
        cache,
    )?);
    data.insert(roster_import::RosterImports::for_caller(
        &upstreams.membership,
        &principal,
    )?);
    data.insert(scheduling::Scheduling::for_caller(
        &upstreams.scheduling,
        &principal,
        cache,
    )?);
    data.insert(notifications::Notifications::for_caller(
        &upstreams.notifications,
        &principal,
    )?);
    data.insert(scoring::Scoring::for_caller(
        &upstreams.scoring,
        &principal,
        cache,
    )?);
    data.insert(crate::fanout::Services::new(upstreams, &principal.token)?);
    data.insert(principal);
    Ok(())
}

/// Prepares an HTTP request for execution on behalf of `principal`.
pub fn for_caller(
    mut request: async_graphql::Request,
    principal: Principal,
    upstreams: &Upstreams,
) -> platform::Result<async_graphql::Request> {
    caller_data(&mut request.data, principal, upstreams, true)?;
    Ok(request)
}

/// The error of a resolver reached without a caller (only possible on the
/// dev-mode introspection path, which answers nothing else).
pub(crate) fn unauthenticated() -> async_graphql::Error {
    graphql_error(Error::Unauthenticated("missing bearer token".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdl() -> String {
        build(
            SchemaLimits {
                depth: 12,
                complexity: 1000,
                introspection: false,
            },
            PublicUrl("http://127.0.0.1:8080".into()),
        )
        .sdl()
    }

    /// The block of one type in the SDL, `type Query {` up to its `}`,
    /// without descriptions and with whitespace collapsed to single spaces
    /// (and one at the end, so `"lead: Person "` cannot match `Person!`).
    fn block(sdl: &str, head: &str) -> String {
        let start = sdl.find(head).unwrap_or_else(|| panic!("{head} missing"));
        let end = sdl[start..].find("\n}").unwrap();
        let without_descriptions: String =
            sdl[start..start + end].split("\"\"\"").step_by(2).collect();
        let collapsed = without_descriptions
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("( ", "(")
            .replace(" )", ")");
        format!("{collapsed} ")
    }

    #[test]
    fn every_membership_query_and_mutation_is_in_the_schema() {
        let sdl = sdl();
        let query = &block(&sdl, "type Query {");
        for field in [
            "me: WhoAmI!",
            "tenant: Tenant!",
            "organisations(first: Int, after: String, nameContains: String): OrganisationConnection!",
            "organisation(id: ID!): Organisation",
            "clusters(first: Int, after: String, organisationId: ID): ClusterConnection!",
            "cluster(id: ID!): Cluster",
            "people(first: Int, after: String, organisationId: ID, clusterId: ID, role: Role, nameContains: String): PersonConnection!",
            "person(id: ID!): Person",
            "roleGrants(first: Int, after: String, personId: ID, clusterId: ID, includeRevoked: Boolean! = false): RoleGrantConnection!",
            "mentorships(first: Int, after: String, personId: ID): MentorshipConnection!",
            "panels(first: Int, after: String): PanelConnection!",
            "consents(first: Int, after: String, personId: ID, organisationId: ID, includeWithdrawn: Boolean! = false): ConsentRecordConnection!",
            "researchOptOuts(first: Int, after: String, organisationId: ID, includeWithdrawn: Boolean! = false): ResearchOptOutConnection!",
            "auditRecords(first: Int, after: String, targetId: ID): AuditRecordConnection!",
        ] {
            assert!(query.contains(field), "Query lacks {field}\n{query}");
        }
        let mutation = &block(&sdl, "type Mutation {");
        for name in [
            "updateTenantSettings",
            "createOrganisation",
            "updateOrganisation",
            "createCluster",
            "updateCluster",
            "addClusterCentre",
            "removeClusterCentre",
            "createPerson",
            "updatePerson",
            "grantRole",
            "revokeRole",
            "createMentorship",
            "endMentorship",
            "createPanel",
            "addPanelMember",
            "removePanelMember",
            "recordConsent",
            "withdrawConsent",
            "recordResearchOptOut",
            "withdrawResearchOptOut",
        ] {
            assert!(
                mutation.contains(&format!(" {name}(input: ")),
                "Mutation lacks {name}\n{mutation}"
            );
        }
    }

    #[test]
    fn every_scheduling_query_and_mutation_is_in_the_schema() {
        let sdl = sdl();
        let query = &block(&sdl, "type Query {");
        for field in [
            "venues(first: Int, after: String): VenueConnection!",
            "events(first: Int, after: String, clusterId: ID, kind: EventKind, from: DateTime, to: DateTime, academicYear: Int, includeDrafts: Boolean! = false, includeCancelled: Boolean! = false, personId: ID): EventConnection!",
            "event(id: ID!): Event ",
            "rsvps(eventId: ID!, first: Int, after: String, status: RsvpStatus): RsvpConnection!",
            "clashes(personId: ID, startsAt: DateTime!, endsAt: DateTime!): [Event!]!",
            "attendance(first: Int, after: String, eventId: ID, personId: ID): AttendanceConnection!",
            "trainingStatus(personId: ID!, academicYear: Int!): TrainingStatus!",
            "ruleSettings: RuleSettings!",
            "compliance(clusterId: ID!, academicYear: Int!): ComplianceReport!",
            "materials(eventId: ID!): [Material!]!",
            "claims(first: Int, after: String, eventId: ID, status: ClaimStatus, personId: ID): ExpenseClaimConnection!",
            "approvedClaimsCsv(from: DateTime, to: DateTime): CsvExport!",
            "questionnaire(eventId: ID!): Questionnaire!",
            "feedbackSummary(eventId: ID!): FeedbackSummary!",
            "myCalendarFeed: CalendarFeed!",
            "eventIcs(eventId: ID!): String!",
        ] {
            assert!(query.contains(field), "Query lacks {field}\n{query}");
        }
        let mutation = &block(&sdl, "type Mutation {");
        for (name, input, output) in [
            ("createVenue", "CreateVenueInput", "Venue!"),
            ("updateVenue", "UpdateVenueInput", "Venue!"),
            ("createEvent", "CreateEventInput", "Event!"),
            ("updateEvent", "UpdateEventInput", "Event!"),
            ("publishEvent", "PublishEventInput", "Event!"),
            ("cancelEvent", "CancelEventInput", "Event!"),
            ("invite", "InviteInput", "InviteResult!"),
            ("rsvp", "RsvpInput", "Rsvp!"),
            ("decideRegistration", "DecideRegistrationInput", "Rsvp!"),
            (
                "recordAttendance",
                "RecordAttendanceInput",
                "[Attendance!]!",
            ),
            ("checkIn", "CheckInInput", "Attendance!"),
            ("updateRuleSettings", "RuleSettingsInput", "RuleSettings!"),
            ("addMaterial", "AddMaterialInput", "Material!"),
            ("submitClaim", "SubmitClaimInput", "ExpenseClaim!"),
            ("decideClaim", "DecideClaimInput", "ExpenseClaim!"),
            (
                "setQuestionnaire",
                "SetQuestionnaireInput",
                "Questionnaire!",
            ),
            ("submitFeedback", "SubmitFeedbackInput", "Boolean!"),
        ] {
            let field = format!(" {name}(input: {input}!): {output} ");
            assert!(
                mutation.contains(&field),
                "Mutation lacks {field}\n{mutation}"
            );
        }
        assert!(mutation.contains(" revokeMyCalendarFeed: CalendarFeed! "));
    }

    #[test]
    fn scheduling_relations_are_nullable_and_inputs_mirror_the_proto() {
        let sdl = sdl();
        let event = &block(&sdl, "type Event {");
        for field in [
            "cluster: Cluster ",
            "venueId: ID ",
            "venue: Venue ",
            "preparesFor: Event ",
            "acceptedCount: Int!",
            "waitlistCount: Int!",
            "checkInCode: String ",
            "startsAt: DateTime!",
            "status: EventStatus!",
        ] {
            assert!(event.contains(field), "Event lacks {field}\n{event}");
        }
        for ty in ["type Rsvp {", "type Attendance {", "type ExpenseClaim {"] {
            let block = &block(&sdl, ty);
            assert!(block.contains("person: Person "), "{block}");
            assert!(block.contains("event: Event "), "{block}");
        }
        assert!(block(&sdl, "type Rsvp {").contains("clashesWith: [Event!]!"));
        assert!(block(&sdl, "type CalendarFeed {").contains("url: String "));
        assert!(block(&sdl, "type ComplianceReport {").contains("cluster: Cluster "));
        let audience = &block(&sdl, "input AudienceInput @oneOf {");
        for field in [
            "clusterId: ID ",
            "organisationId: ID ",
            "role: RoleAudienceInput ",
            "personIds: [ID!] ",
        ] {
            assert!(
                audience.contains(field),
                "AudienceInput lacks {field}\n{audience}"
            );
        }
        let file = &block(&sdl, "input FileUploadInput {");
        assert!(file.contains("fileName: String! contentType: String! contentBase64: String!"));
        assert!(block(&sdl, "input UpdateEventInput {").contains("scope: EditScope! = THIS"));
        assert!(block(&sdl, "enum RsvpResponse {").contains("ACCEPTED DECLINED TENTATIVE "));
        assert!(!sdl.contains("UNSPECIFIED"));
    }

    #[test]
    fn every_notifications_query_mutation_and_subscription_is_in_the_schema() {
        let sdl = sdl();
        let query = &block(&sdl, "type Query {");
        for field in [
            "inbox(first: Int, after: String, unreadOnly: Boolean! = false, includeArchived: Boolean! = false): InboxItemConnection!",
            "notificationPreferences: NotificationPreferences!",
            "clusterMessages(clusterId: ID!, first: Int, after: String): ClusterMessageConnection!",
            "deliveries(first: Int, after: String, notificationId: ID, status: DeliveryStatus, personId: ID): DeliveryConnection!",
            "notificationTemplates: [NotificationTemplate!]!",
            "notificationSettings: NotificationSettings!",
            "deadLetters: [DeadLetter!]!",
        ] {
            assert!(query.contains(field), "Query lacks {field}\n{query}");
        }
        let mutation = &block(&sdl, "type Mutation {");
        for field in [
            "markRead(ids: [ID!]!): MarkResult!",
            "markAllRead: MarkResult!",
            "archive(ids: [ID!]!): MarkResult!",
            "updateNotificationPreferences(input: NotificationPreferencesInput!): NotificationPreferences!",
            "sendClusterMessage(input: SendClusterMessageInput!): ClusterMessage!",
            "notify(input: NotifyInput!): NotifyResult!",
            "setNotificationTemplate(input: NotificationTemplateInput!): NotificationTemplate!",
            "updateNotificationSettings(input: NotificationSettingsInput!): NotificationSettings!",
            "replayDeadLetter(eventId: ID!): Boolean!",
        ] {
            let field = format!(" {field} ");
            assert!(
                mutation.contains(&field),
                "Mutation lacks {field}\n{mutation}"
            );
        }
        assert_eq!(
            block(&sdl, "type Subscription {"),
            "type Subscription { inboxItems: InboxItem! "
        );
        assert!(sdl.contains("subscription: Subscription"), "{sdl}");
    }

    #[test]
    fn notifications_types_relations_and_inputs_mirror_the_proto() {
        let sdl = sdl();
        let connection = &block(&sdl, "type InboxItemConnection {");
        for field in [
            "pageInfo: PageInfo!",
            "edges: [InboxItemEdge!]!",
            "unreadCount: Int!",
        ] {
            assert!(connection.contains(field), "{field}\n{connection}");
        }
        // An inbox item has no relations: only scalars and its category.
        assert_eq!(
            block(&sdl, "type InboxItem {"),
            "type InboxItem { id: ID! category: NotificationCategory! title: String! \
             body: String! link: String createdAt: DateTime! readAt: DateTime \
             archivedAt: DateTime critical: Boolean! "
        );
        let delivery = &block(&sdl, "type Delivery {");
        for field in [
            "personId: ID!",
            "person: Person ",
            "channel: NotificationChannel!",
            "status: DeliveryStatus!",
            "nextAttemptAt: DateTime ",
            "lastError: String ",
        ] {
            assert!(
                delivery.contains(field),
                "Delivery lacks {field}\n{delivery}"
            );
        }
        let message = &block(&sdl, "type ClusterMessage {");
        for field in [
            "clusterId: ID!",
            "cluster: Cluster ",
            "role: Role ",
            "sentById: ID!",
            "sentBy: Person ",
            "sentAt: DateTime!",
            "recipients: Int!",
            "unsubscribed: Int!",
        ] {
            assert!(
                message.contains(field),
                "ClusterMessage lacks {field}\n{message}"
            );
        }
        assert!(
            block(&sdl, "type NotificationSettings {")
                .contains("criticalCategories: [NotificationCategory!]!")
        );
        let send = &block(&sdl, "input SendClusterMessageInput {");
        assert!(send.contains("role: Role "), "{send}");
        assert!(send.contains("idempotencyKey: String!"), "{send}");
        let notify = &block(&sdl, "input NotifyInput {");
        for field in [
            "idempotencyKey: String!",
            "personIds: [ID!]!",
            "category: NotificationCategory!",
            "link: String ",
            "critical: Boolean! = false",
        ] {
            assert!(
                notify.contains(field),
                "NotifyInput lacks {field}\n{notify}"
            );
        }
        let prefs = &block(&sdl, "input NotificationPreferencesInput {");
        for field in [
            "entries: [CategoryPreferenceInput!]!",
            "digestTime: String ",
            "digestWeekday: Int ",
            "timeZone: String ",
            "quietHoursStart: String ",
            "quietHoursEnd: String ",
        ] {
            assert!(prefs.contains(field), "{field}\n{prefs}");
        }
        assert!(
            block(&sdl, "enum NotificationChannel {").contains("IN_APP EMAIL "),
            "{sdl}"
        );
        assert!(!sdl.contains("UNSPECIFIED"));
    }

    #[test]
    fn every_scoring_query_and_mutation_is_in_the_schema() {
        let sdl = sdl();
        let query = &block(&sdl, "type Query {");
        for field in [
            "rubrics(first: Int, after: String, programme: String): RubricConnection!",
            "rubric(id: ID!): Rubric ",
            "portfolios(first: Int, after: String, academicYear: Int, schoolId: ID): PortfolioConnection!",
            "portfolio(id: ID!): Portfolio ",
            "qualificationSets(rubricId: ID!, academicYear: Int): [QualificationSet!]!",
            "eligibility(sessionId: ID!, scorerId: ID): Eligibility!",
            "scoringSessions(first: Int, after: String, academicYear: Int, clusterId: ID): ScoringSessionConnection!",
            "scoringSession(id: ID!): ScoringSession ",
            "myAssignments(first: Int, after: String, sessionId: ID, pendingOnly: Boolean! = false): AssignmentConnection!",
            "sessionAssignments(sessionId: ID!, first: Int, after: String, scorerId: ID): AssignmentConnection!",
            "scoreHistory(sessionId: ID!, portfolioId: ID!): ScoreHistory!",
            "results(sessionId: ID!, first: Int, after: String, awaitingThirdReadOnly: Boolean! = false): PortfolioResultConnection!",
            "agreementStats(groupBy: AgreementGroupBy!, academicYear: Int, sessionId: ID, clusterId: ID): [AgreementRow!]!",
            "schoolScoresCsv(academicYear: Int!, schoolId: ID): ScoringExport!",
            "researchExtractCsv(academicYear: Int!): ScoringExport!",
        ] {
            assert!(query.contains(field), "Query lacks {field}\n{query}");
        }
        let mutation = &block(&sdl, "type Mutation {");
        for (name, input, output) in [
            ("createRubric", "CreateRubricInput", "Rubric!"),
            ("addAnchorPaper", "AddAnchorPaperInput", "AnchorPaper!"),
            ("createPortfolios", "CreatePortfoliosInput", "[Portfolio!]!"),
            (
                "promotePortfolios",
                "PromotePortfoliosInput",
                "PromotionReport!",
            ),
            (
                "createQualificationSet",
                "CreateQualificationSetInput",
                "QualificationSet!",
            ),
            (
                "submitQualificationAttempt",
                "SubmitQualificationAttemptInput",
                "QualificationAttempt!",
            ),
            (
                "createScoringSession",
                "CreateScoringSessionInput",
                "ScoringSession!",
            ),
            (
                "addSessionPortfolios",
                "AddSessionPortfoliosInput",
                "ScoringSession!",
            ),
            (
                "assignScoringSession",
                "AssignScoringSessionInput",
                "AssignmentReport!",
            ),
            ("planBackreads", "PlanBackreadsInput", "AssignmentReport!"),
            (
                "closeScoringSession",
                "CloseScoringSessionInput",
                "ScoringSession!",
            ),
            ("submitScore", "SubmitScoreInput", "Score!"),
            ("correctScore", "CorrectScoreInput", "Score!"),
        ] {
            let field = format!(" {name}(input: {input}!): {output} ");
            assert!(
                mutation.contains(&field),
                "Mutation lacks {field}\n{mutation}"
            );
        }
    }

    #[test]
    fn scoring_relations_are_nullable_and_inputs_mirror_the_proto() {
        let sdl = sdl();
        let session = &block(&sdl, "type ScoringSession {");
        for field in [
            "eventId: ID!",
            "event: Event ",
            "rubric: Rubric ",
            "cluster: Cluster ",
            "lead: Person ",
            "status: ScoringSessionStatus!",
            "calibrationSince: DateTime ",
            "portfolioCount: Int!",
            "progress: SessionProgress!",
            "closedAt: DateTime ",
        ] {
            assert!(
                session.contains(field),
                "ScoringSession lacks {field}\n{session}"
            );
        }
        let rubric = &block(&sdl, "type Rubric {");
        for field in [
            "scorePoints: [ScorePoint!]!",
            "anchorCounts: [AnchorCount!]!",
            "anchorPapers: [AnchorPaper!]!",
            "qualificationThreshold: Float!",
        ] {
            assert!(rubric.contains(field), "Rubric lacks {field}\n{rubric}");
        }
        let portfolio = &block(&sdl, "type Portfolio {");
        for field in [
            "studentRef: String ",
            "school: Organisation ",
            "previous: Portfolio ",
        ] {
            assert!(portfolio.contains(field), "{field}\n{portfolio}");
        }
        for ty in ["type Assignment {", "type Score {"] {
            let block = &block(&sdl, ty);
            assert!(block.contains("scorer: Person "), "{block}");
            assert!(block.contains("session: ScoringSession "), "{block}");
            assert!(block.contains("portfolio: Portfolio "), "{block}");
            assert!(block.contains("kind: ReadKind!"), "{block}");
        }
        let score = &block(&sdl, "type Score {");
        for field in ["score: Int ", "conditionCode: String ", "reason: String "] {
            assert!(score.contains(field), "Score lacks {field}\n{score}");
        }
        let row = &block(&sdl, "type AgreementRow {");
        for field in [
            "qwk: Float ",
            "matrix: [[Int!]!]!",
            "driftWindows: [Float!]!",
        ] {
            assert!(row.contains(field), "AgreementRow lacks {field}\n{row}");
        }
        assert_eq!(
            block(&sdl, "type ScoringExport {"),
            "type ScoringExport { fileName: String! csv: String! rows: Int! excluded: Int! "
        );
        let submit = &block(&sdl, "input SubmitScoreInput {");
        for field in [
            "assignmentId: ID!",
            "score: Int ",
            "dimensions: [DimensionScoreInput!]! = []",
            "conditionCode: String ",
        ] {
            assert!(submit.contains(field), "{field}\n{submit}");
        }
        let session_input = &block(&sdl, "input CreateScoringSessionInput {");
        for field in [
            "secondReadShare: Float ",
            "allowOwnSchool: Boolean! = false",
            "calibrationSince: DateTime ",
            "leadId: ID ",
        ] {
            assert!(session_input.contains(field), "{field}\n{session_input}");
        }
        assert!(block(&sdl, "enum ReadKind {").contains("FIRST SECOND THIRD BACKREAD "));
        assert!(
            block(&sdl, "enum AgreementGroupBy {").contains("SCORER SESSION CLUSTER SCHOOL YEAR ")
        );
        assert!(block(&sdl, "enum QualificationSetKind {").contains("QUALIFYING CALIBRATION "));
        assert!(block(&sdl, "enum ScoringSessionStatus {").contains("OPEN CLOSED "));
        assert!(!sdl.contains("UNSPECIFIED"));
    }

    #[test]
    fn relations_are_nullable_and_contact_may_be_hidden() {
        let sdl = sdl();
        assert!(block(&sdl, "type Cluster {").contains("lead: Person "));
        assert!(block(&sdl, "type Cluster {").contains("centres: [Organisation!]!"));
        let person = &block(&sdl, "type Person {");
        assert!(person.contains("organisation: Organisation "));
        assert!(person.contains("contact: ContactDetails "));
        assert!(person.contains("contactHidden: Boolean!"));
        assert!(block(&sdl, "type RoleGrant {").contains("cluster: Cluster "));
        assert!(block(&sdl, "type Mentorship {").contains("newTeacher: Person "));
        assert!(block(&sdl, "type PanelMember {").contains("person: Person "));
        assert!(block(&sdl, "type ResearchOptOut {").contains("organisation: Organisation "));
        assert!(block(&sdl, "input ConsentSubjectInput @oneOf {").contains("personId: ID"));
        assert!(!sdl.contains("UNSPECIFIED"));
    }
}
