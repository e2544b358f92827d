//! Dependency edges at submit time: the failure policy, and cycle refusal.
//!
//! Edges are fixed when a job is submitted and may only point at jobs that exist or
//! at jobs of the same batch, so a cycle can only form inside one batch; it is
//! refused there, naming the jobs that close it.

use std::collections::HashMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobRequest, NewJob, ValidationError};

/// What a failed (dead-lettered or cancelled) dependency does to its dependent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyPolicy {
    /// The dependent is cancelled too, and so on down the graph.
    #[default]
    Cancel,
    /// The dependent runs anyway and sees its dependencies' outcomes.
    Continue,
}

impl DependencyPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyPolicy::Cancel => "cancel",
            DependencyPolicy::Continue => "continue",
        }
    }
}

impl FromStr for DependencyPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cancel" => Ok(DependencyPolicy::Cancel),
            "continue" => Ok(DependencyPolicy::Continue),
            other => Err(format!("{other:?} must be cancel or continue")),
        }
    }
}

/// Refuses a batch whose jobs depend on each other in a circle.
pub(super) fn refuse_cycles(jobs: &[NewJob], requests: &[JobRequest]) -> Result<(), ValidationError> {
    let index: HashMap<Uuid, usize> = jobs.iter().enumerate().map(|(i, j)| (j.job_id, i)).collect();
    // 0 unvisited, 1 on the current path, 2 done.
    let mut state = vec![0u8; jobs.len()];
    for start in 0..jobs.len() {
        if state[start] != 0 {
            continue;
        }
        let mut path = vec![start];
        let mut next_edge = vec![0usize];
        state[start] = 1;
        while let Some(&node) = path.last() {
            let edges = &jobs[node].depends_on;
            let k = next_edge.last_mut().expect("in step with path");
            match edges.get(*k) {
                None => {
                    state[node] = 2;
                    path.pop();
                    next_edge.pop();
                }
                Some(dep) => {
                    *k += 1;
                    let Some(&target) = index.get(dep) else { continue };
                    match state[target] {
                        0 => {
                            state[target] = 1;
                            path.push(target);
                            next_edge.push(0);
                        }
                        1 => {
                            let from = path.iter().position(|n| *n == target).expect("on the path");
                            let name = |i: usize| requests[i].reference.clone().unwrap_or_else(|| format!("jobs[{i}]"));
                            let mut cycle: Vec<String> = path[from..].iter().map(|&i| name(i)).collect();
                            cycle.push(name(target));
                            return Err(ValidationError::new(
                                format!("jobs[{node}].depends_on"),
                                format!("closes a cycle: {}", cycle.join(" -> ")),
                            ));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
}
