//! The Qdrant backend of the [`VectorStore`] contract, over gRPC (`qdrant-client`).
//!
//! One collection (`qdrant.collection`) of [`DIMENSION`]-value vectors compared by
//! cosine, with keyword indexes on the payload fields searches filter by (`job_id`,
//! `outcome`, `job_type`); [`VectorStore::prepare`] creates whatever of these is
//! missing. A point's id is its execution's UUID, sent as a UUID. The client is built
//! without the version check (which blocks and prints) and connects lazily, so a
//! node starts whether or not Qdrant is up; every call is bounded by
//! `qdrant.timeout_ms`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use qdrant_client::qdrant::vector_output::Vector as VectorKind;
use qdrant_client::qdrant::{
    Condition, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, Distance, FieldType, Filter, PointStruct,
    ScrollPointsBuilder, SearchPointsBuilder, UpsertPointsBuilder, Value as QValue, VectorParamsBuilder, VectorsOutput,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use uuid::Uuid;

use super::{
    ContextPoint, DIMENSION, ExecutionContext, FAILED_OUTCOMES, Scored, SimilarQuery, VectorError, VectorResult,
    VectorStore,
};

/// The payload fields with a keyword index.
const INDEXED: [&str; 3] = ["job_id", "outcome", "job_type"];

/// How many points a job's context listing reads at most (attempts of one job).
const MAX_JOB_POINTS: u32 = 1_000;

/// A [`VectorStore`] on a Qdrant server.
#[derive(Clone)]
pub struct QdrantVectorStore {
    client: std::sync::Arc<Qdrant>,
    collection: String,
    /// The credentials of its URL and its API key: the client's errors quote the URL
    /// whole, and they reach logs and the open `/readyz` body.
    secrets: std::sync::Arc<[String]>,
}

impl std::fmt::Debug for QdrantVectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantVectorStore").field("collection", &self.collection).finish_non_exhaustive()
    }
}

impl QdrantVectorStore {
    /// A client of the Qdrant at `url` (gRPC, e.g. `http://127.0.0.1:6334`). Does not
    /// connect: the first call does.
    pub fn connect(url: &str, api_key: &str, collection: &str, timeout: Duration) -> VectorResult<Self> {
        let mut secrets = crate::config::url_secrets(url);
        secrets.extend((!api_key.is_empty()).then(|| api_key.to_string()));
        let secrets: std::sync::Arc<[String]> = secrets.into();
        let api_key = (!api_key.is_empty()).then(|| api_key.to_string());
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .timeout(timeout)
            .connect_timeout(timeout)
            .skip_compatibility_check()
            .build()
            .map_err(|e| VectorError::Unavailable(crate::config::scrub(&e.to_string(), &secrets)))?;
        Ok(Self { client: std::sync::Arc::new(client), collection: collection.to_string(), secrets })
    }

    /// A client error as this store reports it: unavailable, its credentials hidden.
    fn unavailable(&self, e: QdrantError) -> VectorError {
        VectorError::Unavailable(crate::config::scrub(&e.to_string(), &self.secrets))
    }

    /// The collection's name.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Deletes the collection (tests clean up with it).
    pub async fn drop_collection(&self) -> VectorResult<()> {
        self.client.delete_collection(&self.collection).await.map_err(|e| self.unavailable(e))?;
        Ok(())
    }
}

/// A point's payload as the context it was made from.
fn context_of(payload: HashMap<String, QValue>) -> VectorResult<ExecutionContext> {
    let json = serde_json::Value::from(Payload::from(payload));
    serde_json::from_value(json).map_err(|e| VectorError::Corrupt(format!("a Qdrant payload: {e}")))
}

fn dense(vectors: Option<VectorsOutput>) -> VectorResult<Vec<f32>> {
    match vectors.and_then(|v| v.get_vector()) {
        Some(VectorKind::Dense(d)) => Ok(d.data),
        _ => Err(VectorError::Corrupt("a Qdrant point without its dense vector".into())),
    }
}

#[async_trait]
impl VectorStore for QdrantVectorStore {
    fn backend(&self) -> &'static str {
        "qdrant"
    }

    async fn prepare(&self) -> VectorResult<()> {
        let exists = self.client.collection_exists(&self.collection).await.map_err(|e| self.unavailable(e))?;
        if !exists {
            let vectors = VectorParamsBuilder::new(DIMENSION as u64, Distance::Cosine);
            let create = CreateCollectionBuilder::new(&self.collection).vectors_config(vectors);
            if let Err(e) = self.client.create_collection(create).await {
                // Another node may have created it meanwhile.
                if !self.client.collection_exists(&self.collection).await.map_err(|e| self.unavailable(e))? {
                    return Err(self.unavailable(e));
                }
            }
        }
        let info = self.client.collection_info(&self.collection).await.map_err(|e| self.unavailable(e))?;
        let schema = info.result.map(|r| r.payload_schema).unwrap_or_default();
        for field in INDEXED.into_iter().filter(|f| !schema.contains_key(*f)) {
            let index = CreateFieldIndexCollectionBuilder::new(&self.collection, field, FieldType::Keyword).wait(true);
            self.client.create_field_index(index).await.map_err(|e| self.unavailable(e))?;
        }
        Ok(())
    }

    async fn upsert(&self, points: Vec<ContextPoint>) -> VectorResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let mut structs = Vec::with_capacity(points.len());
        for point in points {
            if point.vector.len() != DIMENSION {
                return Err(VectorError::Invalid(format!(
                    "a vector has {DIMENSION} values, not {}",
                    point.vector.len()
                )));
            }
            let json = serde_json::to_value(&point.context).expect("a context serializes");
            let payload = Payload::try_from(json).map_err(|e| VectorError::Invalid(e.to_string()))?;
            // The execution's UUID as the point id, never a prefixed string.
            let id = point.context.execution_id.to_string();
            structs.push(PointStruct::new(id, point.vector, payload));
        }
        let upsert = UpsertPointsBuilder::new(&self.collection, structs).wait(true);
        self.client.upsert_points(upsert).await.map_err(|e| self.unavailable(e))?;
        Ok(())
    }

    async fn search(&self, query: SimilarQuery) -> VectorResult<Vec<Scored>> {
        if query.vector.len() != DIMENSION {
            return Err(VectorError::Invalid(format!("a vector has {DIMENSION} values, not {}", query.vector.len())));
        }
        let mut filter = Filter::default();
        if query.failed_only {
            let outcomes: Vec<String> = FAILED_OUTCOMES.iter().map(|s| s.to_string()).collect();
            filter.must.push(Condition::matches("outcome", outcomes));
        }
        if let Some(job) = query.exclude_job {
            filter.must_not.push(Condition::matches("job_id", job.to_string()));
        }
        let search = SearchPointsBuilder::new(&self.collection, query.vector, u64::from(query.limit))
            .filter(filter)
            .with_payload(true);
        let found = self.client.search_points(search).await.map_err(|e| self.unavailable(e))?;
        found.result.into_iter().map(|p| Ok(Scored { context: context_of(p.payload)?, score: p.score })).collect()
    }

    async fn job_contexts(&self, job_id: Uuid) -> VectorResult<Vec<ContextPoint>> {
        let scroll = ScrollPointsBuilder::new(&self.collection)
            .filter(Filter::must([Condition::matches("job_id", job_id.to_string())]))
            .limit(MAX_JOB_POINTS)
            .with_payload(true)
            .with_vectors(true);
        let found = self.client.scroll(scroll).await.map_err(|e| self.unavailable(e))?;
        let mut points = found
            .result
            .into_iter()
            .map(|p| Ok(ContextPoint { context: context_of(p.payload)?, vector: dense(p.vectors)? }))
            .collect::<VectorResult<Vec<_>>>()?;
        points.sort_by_key(|p| (p.context.attempt, p.context.recorded_at));
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn an_unreachable_qdrant_is_reported_without_its_credentials() {
        let url = "http://aeon:pa55word@127.0.0.1:1/?api_key=qu3ry-key";
        let store = QdrantVectorStore::connect(url, "c0nfig-key", "c", Duration::from_millis(500)).unwrap();
        let error = store.prepare().await.expect_err("nothing listens on port 1").to_string();
        for secret in ["pa55word", "qu3ry-key", "c0nfig-key"] {
            assert!(!error.contains(secret), "{secret} shown: {error}");
        }
        assert!(error.contains("127.0.0.1"), "still says where: {error}");
    }
}
