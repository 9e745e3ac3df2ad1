//! TLS to PostgreSQL, against the test server (Debian's PostgreSQL serves
//! TLS with its self-signed "snakeoil" certificate; `scripts/services-up`
//! starts it). The `sslmode` of the URL decides: `require` encrypts,
//! `verify-full` also checks the certificate against the system's roots and
//! must refuse a self-signed one.

use collegium_platform::db::connect_postgres;

fn with_sslmode(mode: &str) -> String {
    let url = testkit::pg_admin_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode={mode}")
}

#[tokio::test]
async fn sslmode_require_connects_over_tls() {
    let pool = connect_postgres(&with_sslmode("require"), "public", 1)
        .await
        .expect("connects with sslmode=require (is ssl on in postgresql.conf?)");
    let (ssl, version): (bool, Option<String>) =
        sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("pg_stat_ssl");
    assert!(ssl, "the connection is encrypted");
    assert!(
        version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
        "{version:?}"
    );
}

#[tokio::test]
async fn sslmode_verify_full_refuses_a_certificate_no_root_vouches_for() {
    let err = connect_postgres(&with_sslmode("verify-full"), "public", 1)
        .await
        .expect_err("a self-signed server certificate is not trusted");
    let message = err.to_string();
    assert!(
        message.contains("PostgreSQL") && message.contains("certificate"),
        "refused for its certificate, reported as PostgreSQL unavailable: {message}"
    );
}
