//! Bulk actions from the command line (`aeon job cancel --filter …`,
//! `aeon job retry-now --filter …`, `aeon dlq requeue --all …`): the node counts what
//! the action would touch, the operator confirms (or passed `--yes`), then the node
//! runs it in batches and answers how many jobs changed.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::{Map, Value};

use super::{CliError, Client};

/// The keys `--filter` accepts (the API's filter fields).
const KEYS: &[&str] = &["status", "type", "since", "until", "search"];

/// The API's filter object from `key=value` arguments; `status`, when given, is fixed.
pub fn filter(pairs: &[String], status: Option<&str>) -> Result<Value, CliError> {
    let mut filter = Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(CliError::new(2, format!("--filter {pair:?}: expected KEY=VALUE (keys: {})", KEYS.join(", "))));
        };
        if !KEYS.contains(&key) {
            return Err(CliError::new(2, format!("--filter {key:?}: unknown key (keys: {})", KEYS.join(", "))));
        }
        if filter.insert(key.to_string(), Value::from(value)).is_some() {
            return Err(CliError::new(2, format!("--filter {key}: given twice")));
        }
    }
    if let Some(fixed) = status {
        match filter.get("status").and_then(Value::as_str) {
            Some(given) if given != fixed => {
                return Err(CliError::new(2, format!("--filter status={given}: this command acts on {fixed} jobs")));
            }
            _ => {
                filter.insert("status".into(), Value::from(fixed));
            }
        }
    }
    Ok(Value::Object(filter))
}

/// Previews `action` on `target` (`{"filter"}` or `{"job_ids"}`), asks, runs it.
/// Answers the API's last answer and the text to print.
pub fn run(
    client: &Client,
    action: &str,
    target: Value,
    yes: bool,
    json_out: bool,
) -> Result<(Value, String), CliError> {
    let mut request = target;
    request["action"] = Value::from(action);
    request["preview"] = Value::from(true);
    let preview = client.call("POST", "/v1/jobs/bulk", Some(request.clone()))?;
    let matched = preview["matched"].as_u64().unwrap_or(0);
    let count = format!("{matched}{}", if preview["capped"].as_bool() == Some(true) { "+" } else { "" });
    let verb = action.replace('_', " ");
    if matched == 0 {
        return Ok((preview, format!("{verb}: no job matches; nothing changed")));
    }
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() || json_out {
            let message = format!("{verb} would touch {count} job(s); nothing changed: run again with --yes to do it");
            return Err(CliError::new(2, message));
        }
        eprint!("{verb} {count} job(s)? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = stdin.lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok((preview, format!("{verb}: nothing changed")));
        }
    }
    request["preview"] = Value::from(false);
    let done = client.call("POST", "/v1/jobs/bulk", Some(request))?;
    let shown = format!(
        "{verb}: {} job(s) changed of {count} matching, in {} batch(es)",
        done["changed"].as_u64().unwrap_or(0),
        done["batches"].as_u64().unwrap_or(0)
    );
    Ok((done, shown))
}
