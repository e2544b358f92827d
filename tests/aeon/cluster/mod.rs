//! A cluster of `aeon node` processes on one Postgres and one Redis (a `redis-server`
//! of the test's own), one file per concern: [`wakeups`] across nodes; [`failover`]
//! of a SIGKILLed node, and the rescue lease; [`requests`] from node to node (cancel,
//! crash, drain; mailbox entries reclaimed or refused); [`redis_faults`]: Redis lost
//! and back, or refusing a password; [`mailbox_faults`]: what issue 23 found in the
//! mailbox (a paused node's late requests, a remote exit, a stream key written over, a
//! flood of refused entries). Here: the helpers they share.

mod failover;
mod mailbox_faults;
mod redis_faults;
mod requests;
mod wakeups;

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::TestDb;
use crate::common::cluster::{NodeProcess, eventually};

async fn scalar<T>(db: &TestDb, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&db.postgres().pool).await.expect(sql)
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    scalar::<i64>(db, sql).await
}

/// The node whose worker holds `job_id`, once it runs.
async fn runner_of(db: &TestDb, job_id: Uuid) -> String {
    let sql = format!(
        "SELECT COALESCE((SELECT w.node_id FROM jobs j JOIN workers w USING (worker_id)
          WHERE j.job_id = '{job_id}' AND j.status = 'RUNNING'), '')"
    );
    eventually("the job runs", Duration::from_secs(20), || async {
        let node: String = scalar(db, &sql).await;
        (!node.is_empty()).then_some(node)
    })
    .await
}

async fn submit(node: &NodeProcess, job_type: &str, payload: Value) -> Uuid {
    let (status, body) = node.post("/v1/jobs", &json!({"type": job_type, "payload": payload}).to_string()).await;
    assert_eq!(status, 201, "{body}");
    body["job_id"].as_str().unwrap().parse().unwrap()
}
