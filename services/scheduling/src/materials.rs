//! Where uploaded meeting materials live: an object store behind the
//! `object_store` crate — a directory on the local filesystem in `collegium
//! dev`, an S3-compatible bucket in production, memory in tests.
//!
//! The database keeps each material's metadata and its object key
//! `<tenant>/<event>/<material>/<file name>`; the tenant leads the key, so a
//! bucket can be split or lifecycle-managed per tenant, and an object is only
//! ever reached through a metadata row read in the caller's tenant.

use std::{fmt, path::Path as FsPath, sync::Arc};

use object_store::{
    ObjectStore, ObjectStoreExt, PutPayload, aws::AmazonS3Builder, local::LocalFileSystem,
    memory::InMemory, path::Path,
};
use platform::{
    auth::TenantId,
    error::{Error, Result},
};
use uuid::Uuid;

/// Largest uploaded file (25 MiB).
pub const MAX_FILE_BYTES: usize = 25 * 1024 * 1024;

/// The object store of materials; cheap to clone.
#[derive(Clone)]
pub struct MaterialStore {
    inner: Arc<dyn ObjectStore>,
}

impl fmt::Debug for MaterialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaterialStore({})", self.inner)
    }
}

impl MaterialStore {
    /// Files under `dir` (created when missing): the embedded mode.
    pub fn local(dir: &FsPath) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::invalid("COLLEGIUM_MATERIALS_DIR", format!("{}: {e}", dir.display()))
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| Error::invalid("COLLEGIUM_MATERIALS_DIR", e.to_string()))?;
        Ok(Self {
            inner: Arc::new(store),
        })
    }

    /// An S3-compatible bucket, configured from the standard `AWS_*`
    /// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// and `AWS_ENDPOINT` for a non-AWS service such as MinIO).
    pub fn s3(bucket: &str) -> Result<Self> {
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| Error::invalid("COLLEGIUM_MATERIALS_S3_BUCKET", e.to_string()))?;
        Ok(Self {
            inner: Arc::new(store),
        })
    }

    /// Kept in memory (tests).
    pub fn in_memory() -> Self {
        Self {
            inner: Arc::new(InMemory::new()),
        }
    }

    /// The key of an uploaded file. Each part is escaped by `object_store`,
    /// so a file name cannot reach outside its material's prefix.
    pub fn key(tenant: TenantId, event: Uuid, material: Uuid, file_name: &str) -> String {
        Path::from_iter([
            tenant.to_string(),
            event.to_string(),
            material.to_string(),
            file_name.to_string(),
        ])
        .to_string()
    }

    pub async fn put(&self, key: &str, content: Vec<u8>) -> Result<()> {
        self.inner
            .put(&Path::from(key), PutPayload::from(content))
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let found = self
            .inner
            .get(&Path::from(key))
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => Error::not_found("material content"),
                e => unavailable(e),
            })?;
        Ok(found.bytes().await.map_err(unavailable)?.to_vec())
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.inner
            .delete(&Path::from(key))
            .await
            .map_err(unavailable)
    }
}

fn unavailable(e: object_store::Error) -> Error {
    tracing::warn!(error = %e, "object storage failed");
    Error::Unavailable("material storage".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_round_trip_and_names_stay_inside_their_prefix() {
        let store = MaterialStore::in_memory();
        let (t, e, m) = (TenantId::new_v7(), Uuid::now_v7(), Uuid::now_v7());
        let key = MaterialStore::key(t, e, m, "../../other/agenda.pdf");
        assert!(key.starts_with(&format!("{t}/{e}/{m}/")), "{key}");
        assert_eq!(key.matches('/').count(), 3, "{key}");
        store.put(&key, b"agenda".to_vec()).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap(), b"agenda");
        store.delete(&key).await.unwrap();
        assert!(matches!(store.get(&key).await, Err(Error::NotFound(_))));
    }
}
