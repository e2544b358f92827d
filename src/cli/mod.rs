//! `aeon job|workers|nodes|dlq|stats|snapshot`: a client of a node's HTTP API.
//!
//! Human-readable tables by default, `--json` for scripts. Exit codes scripts can rely
//! on: 0 success; 1 the node could not be reached or failed; 2 bad input (400, 413,
//! 422, or a bad argument); 3 not found (404); 4 conflict (409); 5 refused (401, 403).

mod bulk;
mod render;
mod snapshot;

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

pub use snapshot::{SnapshotCommand, snapshot};

/// Where the node is and how to talk to it.
#[derive(Debug, Clone, Args)]
pub struct ClientOptions {
    /// The node's API.
    #[arg(long, env = "AEON_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// Bearer token, when the node has `api.token` set.
    #[arg(long, env = "AEON_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Submit a job.
    Submit {
        /// The job type (a registered handler).
        #[arg(long = "type")]
        job_type: String,
        /// The payload, as JSON.
        #[arg(long, default_value = "{}")]
        payload: String,
        /// Higher runs first (default 0).
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i64>,
        /// Retries after the first attempt (node default when absent).
        #[arg(long, allow_negative_numbers = true)]
        max_retries: Option<i64>,
        /// Per-attempt timeout (node default when absent).
        #[arg(long, allow_negative_numbers = true)]
        timeout_ms: Option<i64>,
        /// Not before this time (RFC 3339).
        #[arg(long)]
        run_at: Option<String>,
        /// A key of your own: a second submit with the same key gets the first
        /// job back instead of a new one.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// A job this one waits for (repeat for several).
        #[arg(long = "depends-on", value_name = "JOB_ID")]
        depends_on: Vec<String>,
        /// What a failed dependency does to this job: cancel (default) or continue.
        #[arg(long, value_name = "POLICY")]
        on_dependency_failure: Option<String>,
    },
    /// Show a job and its attempts.
    Show {
        /// The job's id.
        id: String,
    },
    /// List jobs, newest first.
    List {
        /// Only jobs in this status (PENDING, RUNNING, COMPLETED, DEAD_LETTER, …).
        #[arg(long)]
        status: Option<String>,
        /// Only jobs of this type.
        #[arg(long = "type")]
        job_type: Option<String>,
        /// Created at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Created before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Payload or error text contains this (the last 24 hours unless --since).
        #[arg(long)]
        search: Option<String>,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The next page: the cursor printed after the previous one (`more: --cursor …`).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Cancel a job that has not finished, or every unfinished job matching
    /// `--filter` (a preview first; `--yes` to skip the question).
    Cancel {
        /// The job's id (or `--filter`).
        #[arg(required_unless_present = "filter", conflicts_with = "filter")]
        id: Option<String>,
        #[command(flatten)]
        bulk: BulkOptions,
    },
    /// Make pending jobs due now (a retry waiting out its backoff, a job scheduled
    /// for later): one job, or every one matching `--filter`.
    RetryNow {
        /// The job's id (or `--filter`).
        #[arg(required_unless_present = "filter", conflicts_with = "filter")]
        id: Option<String>,
        #[command(flatten)]
        bulk: BulkOptions,
    },
    /// Print a workflow: the job and everything that depends on it, as a tree.
    Tree {
        /// The workflow's root job.
        id: String,
    },
    /// Past failed executions of other jobs whose failures look like this job's,
    /// best first: is it one of a known family?
    Similar {
        /// The job whose failures to look like.
        id: String,
        /// How many, 1 to 100.
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// A job's latest checkpoint and its attempts' execution contexts.
    Context {
        /// The job's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Open dead-letter entries, newest first.
    List {
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The next page: the cursor printed after the previous one (`more: --cursor …`).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Put a dead-lettered job back in the queue, or with `--all` every one (of
    /// `--type`, matching `--filter`): a preview first, `--yes` to skip the question.
    Requeue {
        /// The dead-lettered job's id (or `--all`).
        #[arg(required_unless_present = "all", conflicts_with_all = ["all", "job_type", "filter"])]
        id: Option<String>,
        /// Every dead-lettered job (narrowed by --type and --filter).
        #[arg(long)]
        all: bool,
        /// Only jobs of this type (with --all).
        #[arg(long = "type", requires = "all")]
        job_type: Option<String>,
        #[command(flatten)]
        bulk: BulkOptions,
    },
}

/// Bulk actions: which jobs, and whether to ask first.
#[derive(Debug, Clone, Args)]
pub struct BulkOptions {
    /// Which jobs: `status=…`, `type=…`, `since=…`, `until=…` (RFC 3339) or `search=…`;
    /// repeat to narrow (`--filter type=email --filter status=PENDING`).
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Do it without asking (the preview is still printed).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// A failed command: what to print and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// The HTTP side of the client.
struct Client {
    agent: ureq::Agent,
    options: ClientOptions,
}

impl Client {
    fn new(options: ClientOptions) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self { agent, options }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.options.url.trim_end_matches('/'));
        let auth = self.options.token.as_ref().map(|t| format!("Bearer {t}"));
        let sent = match (method, body) {
            ("GET", _) => {
                let mut request = self.agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            (_, body) => {
                let mut request = self.agent.post(&url).header("Content-Type", "application/json");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(body.unwrap_or(json!({})).to_string())
            }
        };
        let mut response =
            sent.map_err(|e| CliError::new(1, format!("cannot reach the node at {}: {e}", self.options.url)))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status < 400 {
            return Ok(value);
        }
        let detail = &value["error"];
        let mut message = detail["message"].as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
        if let Some(field) = detail["field"].as_str() {
            message = format!("{message} (field: {field})");
        }
        let code = match status {
            400 | 413 | 422 => 2,
            404 => 3,
            409 => 4,
            401 | 403 => 5,
            _ => 1,
        };
        Err(CliError::new(code, format!("{status}: {message}")))
    }
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| format!("{k}={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
        })
        .collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

fn id_path(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// Runs a `job` subcommand; answers the text to print.
pub fn job(options: ClientOptions, command: JobCommand) -> Result<String, CliError> {
    let json_out = options.json;
    let client = Client::new(options);
    let (value, shown) = match command {
        JobCommand::Submit {
            job_type,
            payload,
            priority,
            max_retries,
            timeout_ms,
            run_at,
            idempotency_key,
            depends_on,
            on_dependency_failure,
        } => {
            // Refused here as the node would: once parsed, such a number would already be changed.
            if let Some((path, literal)) = crate::job::inexact_number(payload.as_bytes()) {
                let field = if path == "body" { "payload".to_string() } else { format!("payload.{path}") };
                return Err(CliError::new(2, format!("--payload: {field}: {}", crate::job::inexact_reason(&literal))));
            }
            let payload: Value = serde_json::from_str(&payload)
                .map_err(|e| CliError::new(2, format!("--payload is not valid JSON: {e}")))?;
            let mut body = json!({ "type": job_type, "payload": payload });
            for (key, value) in [
                ("priority", priority.map(Value::from)),
                ("max_retries", max_retries.map(Value::from)),
                ("timeout_ms", timeout_ms.map(Value::from)),
                ("run_at", run_at.map(Value::from)),
                ("idempotency_key", idempotency_key.map(Value::from)),
                ("depends_on", (!depends_on.is_empty()).then(|| Value::from(depends_on))),
                ("on_dependency_failure", on_dependency_failure.map(Value::from)),
            ] {
                if let Some(value) = value {
                    body[key] = value;
                }
            }
            let value = client.call("POST", "/v1/jobs", Some(body))?;
            for warning in value["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", warning.as_str().unwrap_or_default());
            }
            let shown = render::id_and_status(&value);
            (value, shown)
        }
        JobCommand::Show { id } => {
            let value = client.call("GET", &format!("/v1/jobs/{}", id_path(&id)), None)?;
            let shown = render::job(&value);
            (value, shown)
        }
        JobCommand::List { status, job_type, since, until, search, limit, cursor } => {
            let q = query(&[
                ("status", status),
                ("type", job_type),
                ("since", since),
                ("until", until),
                ("search", search),
                ("limit", Some(limit.to_string())),
                ("cursor", cursor),
            ]);
            let value = client.call("GET", &format!("/v1/jobs{q}"), None)?;
            let shown = render::job_list(&value);
            (value, shown)
        }
        JobCommand::Similar { id, limit } => {
            let q = query(&[("limit", Some(limit.to_string()))]);
            let value = client.call("GET", &format!("/v1/jobs/{}/similar{q}", id_path(&id)), None)?;
            let shown = render::similar(&value);
            (value, shown)
        }
        JobCommand::Context { id } => {
            let value = client.call("GET", &format!("/v1/jobs/{}/context", id_path(&id)), None)?;
            let shown = render::context(&value);
            (value, shown)
        }
        JobCommand::Tree { id } => {
            let value = client.call("GET", &format!("/v1/workflows/{}", id_path(&id)), None)?;
            let shown = render::tree(&value);
            (value, shown)
        }
        JobCommand::Cancel { id: Some(id), .. } => {
            let value = client.call("POST", &format!("/v1/jobs/{}/cancel", id_path(&id)), None)?;
            let shown = render::id_and_status(&value);
            (value, shown)
        }
        JobCommand::Cancel { id: None, bulk } => {
            let target = json!({ "filter": bulk::filter(&bulk.filter, None)? });
            bulk::run(&client, "cancel", target, bulk.yes, json_out)?
        }
        JobCommand::RetryNow { id, bulk } => {
            let target = match id {
                Some(id) => json!({ "job_ids": [id] }),
                None => json!({ "filter": bulk::filter(&bulk.filter, None)? }),
            };
            let yes = bulk.yes || target_is_one(&target);
            bulk::run(&client, "retry_now", target, yes, json_out)?
        }
    };
    Ok(if json_out { pretty(&value) } else { shown })
}

/// `aeon workers`.
pub fn workers(options: ClientOptions) -> Result<String, CliError> {
    let json_out = options.json;
    let value = Client::new(options).call("GET", "/v1/workers", None)?;
    Ok(if json_out { pretty(&value) } else { render::workers(&value) })
}

/// `aeon nodes`.
pub fn nodes(options: ClientOptions) -> Result<String, CliError> {
    let json_out = options.json;
    let value = Client::new(options).call("GET", "/v1/nodes", None)?;
    Ok(if json_out { pretty(&value) } else { render::nodes(&value) })
}

/// `aeon dlq list|requeue`.
pub fn dlq(options: ClientOptions, command: DlqCommand) -> Result<String, CliError> {
    let json_out = options.json;
    let client = Client::new(options);
    let (value, shown) = match command {
        DlqCommand::List { limit, cursor } => {
            let q = query(&[("limit", Some(limit.to_string())), ("cursor", cursor)]);
            let value = client.call("GET", &format!("/v1/dead-letters{q}"), None)?;
            let shown = render::dead_letters(&value);
            (value, shown)
        }
        DlqCommand::Requeue { id: None, job_type, bulk, .. } => {
            let mut filter = bulk::filter(&bulk.filter, Some("DEAD_LETTER"))?;
            if let Some(t) = job_type {
                filter["type"] = Value::from(t);
            }
            bulk::run(&client, "requeue", json!({ "filter": filter }), bulk.yes, json_out)?
        }
        DlqCommand::Requeue { id: Some(id), .. } => {
            let value = client.call("POST", &format!("/v1/dead-letters/{}/requeue", id_path(&id)), None)?;
            let shown = render::id_and_status(&value);
            (value, shown)
        }
    };
    Ok(if json_out { pretty(&value) } else { shown })
}

/// `aeon stats`.
pub fn stats(options: ClientOptions) -> Result<String, CliError> {
    let json_out = options.json;
    let value = Client::new(options).call("GET", "/v1/stats", None)?;
    Ok(if json_out { pretty(&value) } else { render::stats(&value) })
}

/// Whether a bulk target names one job (no question asked for one job).
fn target_is_one(target: &Value) -> bool {
    target["job_ids"].as_array().is_some_and(|ids| ids.len() == 1)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
