//! Authentication: verifying bearer tokens into a [`Principal`], and issuing
//! tokens (the dev issuer for `collegium dev`, short-lived service tokens for
//! background work).
//!
//! Two kinds of issuer are trusted, each with its own keys:
//! - **people's tokens** come from the tenant's OIDC provider (issuer,
//!   audience and a JWKS configured by the operator) or, in the embedded mode,
//!   from the dev issuer whose key lives in the data directory;
//! - **service tokens** are minted by Collegium itself with the service key
//!   (Ed25519), carry `sub = "service:<name>"`, are bound to one tenant and
//!   live a few minutes.
//!
//! The tenant of every request is the `tid` claim of a verified token and
//! nothing else. Roles travel as the `roles` claim (`"teacher"`,
//! `"cluster_lead:<cluster uuid>"`); tokens are short-lived so a revoked
//! grant stops working within one token lifetime.

use std::{collections::HashMap, fmt, path::Path, str::FromStr, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use ed25519_dalek::{
    SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding},
};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
    jwk::JwkSet,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// Issuer name of tokens that Collegium mints itself (dev and service tokens).
pub const INTERNAL_ISSUER: &str = "collegium";
/// Default audience of every Collegium token.
pub const DEFAULT_AUDIENCE: &str = "collegium";

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A tenant (district, awarding body, research partnership).
    TenantId
);
id_type!(
    /// A person inside one tenant.
    PersonId
);

/// Roles a person can hold, tenant-wide or in one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    TenantAdmin,
    ClusterLead,
    Teacher,
    Mentor,
    NewTeacher,
    PanelMember,
    Researcher,
    Observer,
    BuildingCoordinator,
    Principal,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::TenantAdmin,
        Role::ClusterLead,
        Role::Teacher,
        Role::Mentor,
        Role::NewTeacher,
        Role::PanelMember,
        Role::Researcher,
        Role::Observer,
        Role::BuildingCoordinator,
        Role::Principal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::TenantAdmin => "tenant_admin",
            Role::ClusterLead => "cluster_lead",
            Role::Teacher => "teacher",
            Role::Mentor => "mentor",
            Role::NewTeacher => "new_teacher",
            Role::PanelMember => "panel_member",
            Role::Researcher => "researcher",
            Role::Observer => "observer",
            Role::BuildingCoordinator => "building_coordinator",
            Role::Principal => "principal",
        }
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::invalid("role", format!("unknown role \"{s}\"")))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One role held tenant-wide (`cluster: None`) or in one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grant {
    pub role: Role,
    pub cluster: Option<Uuid>,
}

impl Grant {
    /// The claim form: `"teacher"` or `"cluster_lead:<uuid>"`.
    pub fn to_claim(&self) -> String {
        match self.cluster {
            Some(c) => format!("{}:{c}", self.role),
            None => self.role.to_string(),
        }
    }

    pub fn from_claim(s: &str) -> Result<Self> {
        let (role, cluster) = match s.split_once(':') {
            Some((r, c)) => (
                r,
                Some(
                    Uuid::parse_str(c)
                        .map_err(|_| Error::Unauthenticated("malformed role claim".into()))?,
                ),
            ),
            None => (s, None),
        };
        let role = Role::from_str(role)
            .map_err(|_| Error::Unauthenticated("unknown role claim".into()))?;
        Ok(Grant { role, cluster })
    }
}

/// Who is calling: a person, or a Collegium service acting for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Person(PersonId),
    Service(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Person(p) => p.fmt(f),
            Subject::Service(s) => write!(f, "service:{s}"),
        }
    }
}

/// The verified caller of a request. Built only by [`TokenVerifier::verify`].
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: TenantId,
    pub subject: Subject,
    pub grants: Vec<Grant>,
    /// The bearer token as received, forwarded unchanged on onward gRPC calls.
    pub token: Arc<str>,
}

impl Principal {
    pub fn person(&self) -> Option<PersonId> {
        match self.subject {
            Subject::Person(p) => Some(p),
            Subject::Service(_) => None,
        }
    }

    pub fn is_service(&self) -> bool {
        matches!(self.subject, Subject::Service(_))
    }

    /// Tenant admins and services act on the whole tenant.
    pub fn is_tenant_admin(&self) -> bool {
        self.is_service()
            || self
                .grants
                .iter()
                .any(|g| g.role == Role::TenantAdmin && g.cluster.is_none())
    }

    /// Holds `role` tenant-wide or in any cluster.
    pub fn has_role(&self, role: Role) -> bool {
        self.grants.iter().any(|g| g.role == role)
    }

    /// Leads this cluster (or is a tenant admin).
    pub fn leads_cluster(&self, cluster: Uuid) -> bool {
        self.is_tenant_admin()
            || self
                .grants
                .iter()
                .any(|g| g.role == Role::ClusterLead && g.cluster == Some(cluster))
    }

    pub fn require_tenant_admin(&self) -> Result<()> {
        if self.is_tenant_admin() {
            Ok(())
        } else {
            Err(Error::forbidden("requires the tenant_admin role"))
        }
    }

    pub fn require_cluster_lead(&self, cluster: Uuid) -> Result<()> {
        if self.leads_cluster(cluster) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "requires the cluster_lead role for this cluster or tenant_admin",
            ))
        }
    }

    /// The actor written into audit records.
    pub fn actor(&self) -> String {
        self.subject.to_string()
    }
}

/// The claims of every Collegium token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    /// Tenant id.
    pub tid: Uuid,
    #[serde(default)]
    pub roles: Vec<String>,
    pub iat: i64,
    pub exp: i64,
}

/// One trusted issuer with its keys by key id.
struct TrustedIssuer {
    issuer: String,
    audience: String,
    keys: HashMap<String, (DecodingKey, Algorithm)>,
}

/// Verifies bearer tokens. Cheap to clone; keys are loaded once at start.
#[derive(Clone)]
pub struct TokenVerifier {
    issuers: Arc<Vec<TrustedIssuer>>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field(
                "issuers",
                &self.issuers.iter().map(|i| &i.issuer).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TokenVerifier {
    pub fn builder() -> TokenVerifierBuilder {
        TokenVerifierBuilder::default()
    }

    /// Verifies signature, issuer, audience and expiry (30 s leeway) and builds
    /// the principal. Any failure is `UNAUTHENTICATED` with a reason that
    /// reveals nothing about the keys.
    pub fn verify(&self, token: &str) -> Result<Principal> {
        let unauth = |m: &str| Error::Unauthenticated(m.to_string());
        let header = decode_header(token).map_err(|_| unauth("malformed token"))?;
        let kid = header.kid.as_deref().unwrap_or("");
        let claims = self
            .issuers
            .iter()
            .find_map(|iss| {
                let (key, alg) = iss.keys.get(kid)?;
                if *alg != header.alg {
                    return None;
                }
                let mut v = Validation::new(*alg);
                v.set_issuer(&[&iss.issuer]);
                v.set_audience(&[&iss.audience]);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                v.leeway = 30;
                Some(decode::<Claims>(token, key, &v).map(|d| d.claims))
            })
            .ok_or_else(|| unauth("token signed by an unknown key"))?
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauth("token expired"),
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    unauth("token is for another audience")
                }
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                    unauth("token from another issuer")
                }
                _ => unauth("invalid token"),
            })?;
        let subject = match claims.sub.strip_prefix("service:") {
            Some(name) => Subject::Service(name.to_string()),
            None => Subject::Person(PersonId(
                Uuid::parse_str(&claims.sub).map_err(|_| unauth("malformed subject"))?,
            )),
        };
        let grants = claims
            .roles
            .iter()
            .map(|r| Grant::from_claim(r))
            .collect::<Result<Vec<_>>>()?;
        Ok(Principal {
            tenant: TenantId(claims.tid),
            subject,
            grants,
            token: token.into(),
        })
    }

    /// Verifies an `authorization` header value of the form `Bearer <token>`.
    pub fn verify_header(&self, value: Option<&str>) -> Result<Principal> {
        let value = value.ok_or_else(|| Error::Unauthenticated("missing bearer token".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Error::Unauthenticated("authorization is not a bearer token".into()))?;
        self.verify(token.trim())
    }
}

#[derive(Default)]
pub struct TokenVerifierBuilder {
    issuers: Vec<TrustedIssuer>,
}

impl TokenVerifierBuilder {
    /// Trusts tokens from `issuer` for `audience` signed by any key of `jwks`
    /// (the JSON of a JSON Web Key Set, as an OIDC provider publishes it).
    pub fn trust_jwks(mut self, issuer: &str, audience: &str, jwks: &str) -> Result<Self> {
        let set: JwkSet = serde_json::from_str(jwks)
            .map_err(|e| Error::invalid("jwks", format!("not a JSON Web Key Set: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            let alg = match jwk.common.key_algorithm {
                Some(a) => Algorithm::from_str(&format!("{a:?}"))
                    .map_err(|_| Error::invalid("jwks", format!("unsupported alg {a:?}")))?,
                None => match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => return Err(Error::invalid("jwks", "key without a usable algorithm")),
                },
            };
            if alg == Algorithm::HS256 || alg == Algorithm::HS384 || alg == Algorithm::HS512 {
                return Err(Error::invalid(
                    "jwks",
                    "symmetric keys are not accepted; use asymmetric signing keys",
                ));
            }
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| Error::invalid("jwks", format!("bad key {kid:?}: {e}")))?;
            keys.insert(kid, (key, alg));
        }
        if keys.is_empty() {
            return Err(Error::invalid("jwks", "the key set has no keys"));
        }
        self.issuers.push(TrustedIssuer {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            keys,
        });
        Ok(self)
    }

    /// Trusts tokens minted by this signer (dev issuer or service key).
    pub fn trust_signer(self, signer: &TokenSigner) -> Result<Self> {
        let jwks = signer.jwks_json();
        let (issuer, audience) = (signer.issuer.clone(), signer.audience.clone());
        self.trust_jwks(&issuer, &audience, &jwks)
    }

    pub fn build(self) -> TokenVerifier {
        TokenVerifier {
            issuers: Arc::new(self.issuers),
        }
    }
}

/// Mints Collegium tokens with an Ed25519 key: dev tokens for people in the
/// embedded mode, and service tokens everywhere.
#[derive(Clone)]
pub struct TokenSigner {
    kid: String,
    issuer: String,
    audience: String,
    encoding: EncodingKey,
    public_x: String,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// Loads an Ed25519 PKCS#8 PEM private key.
    pub fn from_pem(pem: &str, issuer: &str, audience: &str) -> Result<Self> {
        let key = SigningKey::from_pkcs8_pem(pem)
            .map_err(|_| Error::invalid("service_key", "not an Ed25519 PKCS#8 PEM private key"))?;
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes())
            .map_err(|e| Error::invalid("service_key", e.to_string()))?;
        let public = key.verifying_key().to_bytes();
        let public_x = URL_SAFE_NO_PAD.encode(public);
        // A stable key id derived from the public key, so rotation is visible.
        let kid = public_x.chars().take(16).collect();
        Ok(Self {
            kid,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            encoding,
            public_x,
        })
    }

    /// A new random Ed25519 key as PKCS#8 PEM.
    pub fn generate_pem() -> String {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        key.to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key always encodes")
            .to_string()
    }

    /// Loads the key at `path`, creating it (mode 0600) when missing.
    pub fn load_or_create(path: &Path, issuer: &str, audience: &str) -> anyhow::Result<Self> {
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, Self::generate_pem())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        let pem = std::fs::read_to_string(path)?;
        Ok(Self::from_pem(&pem, issuer, audience)?)
    }

    /// The public half as a JSON Web Key Set (what a verifier trusts).
    pub fn jwks_json(&self) -> String {
        serde_json::json!({
            "keys": [{
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                "kid": self.kid, "x": self.public_x,
            }]
        })
        .to_string()
    }

    fn sign(
        &self,
        sub: String,
        tenant: TenantId,
        grants: &[Grant],
        ttl: chrono::Duration,
    ) -> String {
        let now = Utc::now();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub,
            tid: tenant.0,
            roles: grants.iter().map(Grant::to_claim).collect(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        encode(&header, &claims, &self.encoding).expect("Ed25519 signing does not fail")
    }

    /// A token for a person (dev mode and tests).
    pub fn person_token(
        &self,
        tenant: TenantId,
        person: PersonId,
        grants: &[Grant],
        ttl: chrono::Duration,
    ) -> String {
        self.sign(person.0.to_string(), tenant, grants, ttl)
    }

    /// A short-lived (5 minute) token for background work of `service` in one tenant.
    pub fn service_token(&self, service: &str, tenant: TenantId) -> String {
        self.service_token_for(service, tenant, chrono::Duration::minutes(5))
    }

    /// A service token living `ttl`, for one bounded job in one tenant
    /// (a retention run): still bound to the tenant, still no roles.
    pub fn service_token_for(
        &self,
        service: &str,
        tenant: TenantId,
        ttl: chrono::Duration,
    ) -> String {
        self.sign(format!("service:{service}"), tenant, &[], ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        TokenSigner::from_pem(
            &TokenSigner::generate_pem(),
            INTERNAL_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .unwrap()
    }

    #[test]
    fn a_signed_token_verifies_into_its_principal() {
        let s = signer();
        let v = TokenVerifier::builder().trust_signer(&s).unwrap().build();
        let (t, p, c) = (TenantId::new_v7(), PersonId::new_v7(), Uuid::now_v7());
        let grants = [
            Grant {
                role: Role::Teacher,
                cluster: None,
            },
            Grant {
                role: Role::ClusterLead,
                cluster: Some(c),
            },
        ];
        let token = s.person_token(t, p, &grants, chrono::Duration::minutes(5));
        let principal = v.verify_header(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(principal.tenant, t);
        assert_eq!(principal.person(), Some(p));
        assert_eq!(principal.grants, grants);
        assert!(principal.leads_cluster(c));
        assert!(!principal.leads_cluster(Uuid::now_v7()));
        assert!(!principal.is_tenant_admin());
    }

    #[test]
    fn forged_expired_and_foreign_tokens_are_refused() {
        let (s, other) = (signer(), signer());
        let v = TokenVerifier::builder().trust_signer(&s).unwrap().build();
        let t = TenantId::new_v7();
        let p = PersonId::new_v7();
        // signed by a key nobody trusts
        let forged = other.person_token(t, p, &[], chrono::Duration::minutes(5));
        assert!(matches!(v.verify(&forged), Err(Error::Unauthenticated(_))));
        // expired well beyond the leeway
        let expired = s.person_token(t, p, &[], chrono::Duration::minutes(-5));
        let err = v.verify(&expired).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        // right key, wrong audience
        let pem = TokenSigner::generate_pem();
        let a = TokenSigner::from_pem(&pem, INTERNAL_ISSUER, "collegium").unwrap();
        let b = TokenSigner::from_pem(&pem, INTERNAL_ISSUER, "another-app").unwrap();
        let v = TokenVerifier::builder().trust_signer(&a).unwrap().build();
        let wrong_aud = b.person_token(t, p, &[], chrono::Duration::minutes(5));
        let err = v.verify(&wrong_aud).unwrap_err();
        assert!(err.to_string().contains("audience"), "{err}");
        // a tampered payload (tenant swapped) breaks the signature
        let good = a.person_token(t, p, &[], chrono::Duration::minutes(5));
        let mut parts: Vec<String> = good.split('.').map(String::from).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["tid"] = serde_json::json!(Uuid::now_v7());
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        assert!(v.verify(&parts.join(".")).is_err());
        // missing header
        assert!(matches!(
            v.verify_header(None),
            Err(Error::Unauthenticated(_))
        ));
    }

    #[test]
    fn service_tokens_act_for_one_tenant() {
        let s = signer();
        let v = TokenVerifier::builder().trust_signer(&s).unwrap().build();
        let t = TenantId::new_v7();
        let p = v.verify(&s.service_token("notifications", t)).unwrap();
        assert_eq!(p.tenant, t);
        assert_eq!(p.subject, Subject::Service("notifications".into()));
        assert!(p.is_tenant_admin());
    }

    #[test]
    fn symmetric_jwks_are_refused() {
        let jwks = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"a"}]}"#;
        assert!(TokenVerifier::builder().trust_jwks("i", "a", jwks).is_err());
    }
}
