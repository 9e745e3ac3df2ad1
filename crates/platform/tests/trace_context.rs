//! W3C trace context is carried from an incoming request (HTTP or gRPC) into
//! every outgoing gRPC call: the gateway and each service continue the
//! caller's trace instead of starting a new one.

use collegium_platform::{grpc::ForwardCaller, telemetry};
use opentelemetry::trace::TracerProvider as _;
use tonic::service::Interceptor;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn an_incoming_traceparent_is_forwarded_on_outgoing_calls() {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::with_default(subscriber, || {
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let incoming = http::Request::builder()
            .uri("/graphql")
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .body(())
            .unwrap();
        let span = telemetry::request_span(&incoming);
        let _entered = span.enter();

        let mut forward = ForwardCaller::new("a.b.c").unwrap();
        let outgoing = forward.call(tonic::Request::new(())).unwrap();
        let traceparent = outgoing
            .metadata()
            .get("traceparent")
            .expect("traceparent forwarded")
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            traceparent.starts_with(&format!("00-{trace_id}-")),
            "same trace continued: {traceparent}"
        );
        // A new span id: the call is a child, not the caller's own span.
        assert!(!traceparent.contains("00f067aa0ba902b7"), "{traceparent}");
        assert_eq!(
            outgoing.metadata().get("authorization").unwrap(),
            "Bearer a.b.c"
        );
        // Every outgoing call carries a deadline.
        assert!(outgoing.metadata().get("grpc-timeout").is_some());
    });
}
