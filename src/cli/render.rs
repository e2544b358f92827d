//! Human-readable output: aligned tables from the API's JSON.

use serde_json::Value;

/// Columns padded to their widest cell.
pub(super) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `<job_id> <status>`: the answer to submit, cancel and requeue.
pub fn id_and_status(v: &Value) -> String {
    format!("{} {}", v["job_id"].as_str().unwrap_or("?"), v["status"].as_str().unwrap_or("?"))
}

pub fn job(v: &Value) -> String {
    let fields = [
        "job_id",
        "type",
        "status",
        "priority",
        "attempts",
        "max_retries",
        "timeout_ms",
        "created_at",
        "started_at",
        "completed_at",
        "error",
    ];
    let mut out: Vec<String> = fields.iter().map(|f| format!("{f:<13} {}", text(&v[*f]))).collect();
    out.push(format!("{:<13} {}", "payload", v["payload"]));
    out.push(format!("{:<13} {}", "result", text(&v["result"])));
    let executions = v["executions"].as_array().cloned().unwrap_or_default();
    if !executions.is_empty() {
        out.push(String::new());
        let rows = executions
            .iter()
            .map(|e| {
                ["attempt", "execution_status", "worker_id", "started_at", "finished_at", "error"]
                    .iter()
                    .map(|f| text(&e[*f]))
                    .collect()
            })
            .collect();
        out.push(table(&["ATTEMPT", "STATUS", "WORKER", "STARTED", "FINISHED", "ERROR"], rows));
    }
    out.join("\n")
}

pub fn job_list(v: &Value) -> String {
    let rows = v["jobs"]
        .as_array()
        .map(|jobs| {
            jobs.iter()
                .map(|j| ["job_id", "type", "status", "attempts", "created_at"].iter().map(|f| text(&j[*f])).collect())
                .collect()
        })
        .unwrap_or_default();
    let mut out = table(&["JOB_ID", "TYPE", "STATUS", "ATTEMPTS", "CREATED"], rows);
    if let Some(cursor) = v["next_cursor"].as_str() {
        out.push_str(&format!("\nmore: --cursor {cursor}"));
    }
    out
}

pub fn workers(v: &Value) -> String {
    let rows = v
        .as_array()
        .map(|ws| {
            ws.iter()
                .map(|w| {
                    [
                        "worker_id",
                        "node_id",
                        "status",
                        "current_load",
                        "capacity",
                        "health_score",
                        "failure_count",
                        "last_heartbeat",
                    ]
                    .iter()
                    .map(|f| text(&w[*f]))
                    .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    table(&["WORKER_ID", "NODE", "STATUS", "LOAD", "CAPACITY", "HEALTH", "FAILURES", "LAST_HEARTBEAT"], rows)
}

pub fn nodes(v: &Value) -> String {
    let fields = ["node_id", "address", "status", "live_workers", "workers", "last_seen"];
    let rows = v
        .as_array()
        .map(|ns| ns.iter().map(|n| fields.iter().map(|f| text(&n[*f])).collect()).collect())
        .unwrap_or_default();
    table(&["NODE", "ADDRESS", "STATUS", "LIVE_WORKERS", "WORKERS", "LAST_SEEN"], rows)
}

pub fn dead_letters(v: &Value) -> String {
    let rows = v["dead_letters"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .map(|d| {
                    ["job_id", "type", "attempts", "failed_at", "last_error"].iter().map(|f| text(&d[*f])).collect()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = table(&["JOB_ID", "TYPE", "ATTEMPTS", "FAILED_AT", "LAST_ERROR"], rows);
    if let Some(cursor) = v["next_cursor"].as_str() {
        out.push_str(&format!("\nmore: --cursor {cursor}"));
    }
    out
}

pub fn stats(v: &Value) -> String {
    let section = |name: &str| {
        v[name]
            .as_object()
            .map(|m| m.iter().map(|(k, n)| format!("  {k:<12} {n}")).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    };
    let mut out = format!(
        "jobs\n{}\ncompleted in the last minute: {}\nworkers\n{}",
        section("jobs"),
        text(&v["completed_last_minute"]),
        section("workers")
    );
    let unhandled = v["unhandled_types"].as_array().cloned().unwrap_or_default();
    if !unhandled.is_empty() {
        out.push_str("\npending job types no live worker handles (they wait for a node that does)");
        for t in &unhandled {
            out.push_str(&format!("\n  {:<12} {}", text(&t["type"]), text(&t["pending"])));
        }
    }
    out
}

/// A workflow as an indented tree of dependents. A job with several dependencies
/// appears under each; its subtree is printed the first time only.
pub fn tree(v: &Value) -> String {
    use std::collections::{HashMap, HashSet};
    let jobs = v["jobs"].as_array().cloned().unwrap_or_default();
    let by_id: HashMap<&str, &Value> = jobs.iter().filter_map(|j| Some((j["job_id"].as_str()?, j))).collect();
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for job in &jobs {
        for dep in job["depends_on"].as_array().into_iter().flatten() {
            if let (Some(dep), Some(id)) = (dep.as_str(), job["job_id"].as_str()) {
                children.entry(dep).or_default().push(id);
            }
        }
    }
    let mut out = Vec::new();
    let mut shown = HashSet::new();
    let mut stack = vec![(v["root"].as_str().unwrap_or_default(), 0usize)];
    while let Some((id, depth)) = stack.pop() {
        let Some(job) = by_id.get(id) else { continue };
        let line = format!("{}{id} {} {}", "  ".repeat(depth), text(&job["type"]), text(&job["status"]));
        if !shown.insert(id) {
            out.push(format!("{line} (see above)"));
            continue;
        }
        out.push(line);
        for child in children.get(id).into_iter().flatten().rev() {
            stack.push((child, depth + 1));
        }
    }
    if v["truncated"].as_bool() == Some(true) {
        out.push("(truncated)".into());
    }
    out.join("\n")
}

/// `aeon job similar`: the basis, then one row per similar execution, best first.
pub fn similar(v: &Value) -> String {
    let basis = &v["basis"];
    if basis.is_null() {
        return format!("job {} has no failed attempt to compare", text(&v["job_id"]));
    }
    let head = format!(
        "job {} attempt {} {}: {}",
        text(&v["job_id"]),
        text(&basis["attempt"]),
        text(&basis["outcome"]),
        text(&basis["error"])
    );
    let rows: Vec<Vec<String>> = v["similar"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let score = s["score"].as_f64().map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
            vec![score, text(&s["job_id"]), text(&s["execution_id"]), text(&s["outcome"]), text(&s["error"])]
        })
        .collect();
    if rows.is_empty() {
        return format!("{head}\nno similar failures ({})", text(&v["backend"]));
    }
    format!("{head}\n\n{}", table(&["score", "job_id", "execution_id", "outcome", "error"], rows))
}

/// `aeon job context`: the checkpoint, then one row per attempt.
pub fn context(v: &Value) -> String {
    let checkpoint = &v["checkpoint"];
    let mut out = vec![if checkpoint.is_null() {
        "checkpoint    -".to_string()
    } else {
        format!(
            "checkpoint    attempt {} at {}: {}",
            text(&checkpoint["attempt"]),
            text(&checkpoint["saved_at"]),
            checkpoint["data"]
        )
    }];
    if let Some(error) = v["contexts_error"].as_str() {
        out.push(format!("contexts      unavailable ({error})"));
    }
    let rows: Vec<Vec<String>> = v["executions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            ["attempt", "outcome", "duration_ms", "node_id", "execution_id", "error"]
                .iter()
                .map(|f| text(&e[*f]))
                .collect()
        })
        .collect();
    if !rows.is_empty() {
        out.push(String::new());
        out.push(table(&["attempt", "outcome", "duration_ms", "node_id", "execution_id", "error"], rows));
    }
    out.join("\n")
}
