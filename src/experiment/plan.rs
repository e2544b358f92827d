//! What a seed makes of a scenario: the jobs (the weighted mix, padded payloads, and
//! the dependency shapes: chains, fan-ins, diamonds), when each group of them is
//! submitted, and the fault schedule. Pure: the same scenario and seed give the same
//! plan.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::scenario::{FaultKind, Scenario, to_json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedJob {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub payload: Value,
    pub max_retries: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// Jobs that go in one batch (a chain or a fan-in names its members by `ref`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub at_ms: u64,
    pub jobs: Vec<PlannedJob>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFault {
    pub at_ms: u64,
    pub kind: FaultKind,
    pub node: usize,
    /// Which of the node's workers (an index into its live workers, modulo their number).
    pub worker_pick: u32,
    pub duration_ms: u64,
    pub restart_after_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub seed: u64,
    pub groups: Vec<Group>,
    pub faults: Vec<PlannedFault>,
}

impl Plan {
    pub fn jobs(&self) -> usize {
        self.groups.iter().map(|g| g.jobs.len()).sum()
    }

    /// The plan with only the faults at `keep` (indexes into `faults`).
    pub fn with_faults(&self, keep: &[usize]) -> Plan {
        let faults = keep.iter().map(|&i| self.faults[i].clone()).collect();
        Plan { faults, ..self.clone() }
    }

    pub fn new(scenario: &Scenario, seed: u64) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let w = &scenario.workload;
        let total_weight: u32 = w.mix.iter().map(|m| m.weight).sum();
        let mut counter = 0usize;
        let mut pick = |rng: &mut StdRng| -> PlannedJob {
            let mut roll = rng.random_range(0..total_weight);
            let entry = w
                .mix
                .iter()
                .find(|m| {
                    if roll < m.weight {
                        true
                    } else {
                        roll -= m.weight;
                        false
                    }
                })
                .expect("a weighted entry");
            counter += 1;
            let mut payload = to_json(&entry.payload);
            if let Some([min, max]) = entry.payload_bytes
                && let Some(object) = payload.as_object_mut()
            {
                let len = rng.random_range(min..=max);
                object.insert("pad".into(), Value::String(pad(len, counter)));
            }
            PlannedJob {
                reference: format!("j{counter}"),
                job_type: entry.job_type.clone(),
                payload,
                max_retries: entry.max_retries.unwrap_or(w.max_retries),
                depends_on: Vec::new(),
            }
        };

        let mut groups: Vec<Vec<PlannedJob>> = Vec::new();
        let mut planned = 0usize;
        if let Some(chains) = &w.chains {
            for _ in 0..chains.count {
                let mut chain: Vec<PlannedJob> = Vec::new();
                for _ in 0..chains.length {
                    let mut job = pick(&mut rng);
                    if let Some(before) = chain.last() {
                        job.depends_on = vec![before.reference.clone()];
                    }
                    chain.push(job);
                }
                planned += chain.len();
                groups.push(chain);
            }
        }
        if let Some(fan) = &w.fan_in {
            for f in 0..fan.count {
                let mut leaves: Vec<PlannedJob> = (0..fan.width).map(|_| pick(&mut rng)).collect();
                let collect = PlannedJob {
                    reference: format!("collect{f}"),
                    job_type: "collect".into(),
                    payload: json!({}),
                    max_retries: w.max_retries,
                    depends_on: leaves.iter().map(|j| j.reference.clone()).collect(),
                };
                leaves.push(collect);
                planned += leaves.len();
                groups.push(leaves);
            }
        }
        if let Some(diamonds) = &w.diamonds {
            for d in 0..diamonds.count {
                let root = pick(&mut rng);
                let mut jobs: Vec<PlannedJob> = (0..diamonds.width)
                    .map(|_| {
                        let mut middle = pick(&mut rng);
                        middle.depends_on = vec![root.reference.clone()];
                        middle
                    })
                    .collect();
                let sink = PlannedJob {
                    reference: format!("diamond{d}"),
                    job_type: "collect".into(),
                    payload: json!({}),
                    max_retries: w.max_retries,
                    depends_on: jobs.iter().map(|j| j.reference.clone()).collect(),
                };
                jobs.insert(0, root);
                jobs.push(sink);
                planned += jobs.len();
                groups.push(jobs);
            }
        }
        while planned < w.jobs {
            groups.push(vec![pick(&mut rng)]);
            planned += 1;
        }
        // Shuffle the groups so shapes arrive among the plain jobs.
        for i in (1..groups.len()).rev() {
            let j = rng.random_range(0..=i);
            groups.swap(i, j);
        }
        let mut submitted = 0usize;
        let groups = groups
            .into_iter()
            .map(|jobs| {
                let at_ms = match w.rate {
                    Some(rate) => (submitted as f64 / rate * 1_000.0) as u64,
                    None => 0,
                };
                submitted += jobs.len();
                Group { at_ms, jobs }
            })
            .collect();

        let mut faults = Vec::new();
        for spec in &scenario.faults {
            let times: Vec<u64> = match (spec.at_ms, spec.between_ms) {
                (Some(at), _) => vec![at],
                (None, Some([a, b])) => (0..spec.count.unwrap_or(1)).map(|_| rng.random_range(a..=b)).collect(),
                _ => Vec::new(),
            };
            for at_ms in times {
                let node = spec.node.unwrap_or_else(|| rng.random_range(0..scenario.cluster.nodes));
                let worker_pick = rng.random_range(0..u32::MAX);
                faults.push(PlannedFault {
                    at_ms,
                    kind: spec.kind,
                    node,
                    worker_pick,
                    duration_ms: spec.duration_ms.unwrap_or(spec.kind.default_duration_ms()),
                    restart_after_ms: spec.restart_after_ms,
                });
            }
        }
        faults.sort_by_key(|f| (f.at_ms, f.kind, f.node));
        Plan { seed, groups, faults }
    }
}

/// `len` bytes of printable filler, different per job (so no two payloads are equal).
fn pad(len: usize, job: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len).map(|i| ALPHABET[(i * 7 + job) % ALPHABET.len()] as char).collect()
}
