//! Bench results: medians with their spread, as JSON and as `BENCHMARKS.md`.

use serde::Serialize;

/// One scenario's repeated measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub scenario: String,
    pub unit: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
    /// What was measured, in a sentence.
    pub note: String,
}

impl Measurement {
    pub fn new(scenario: &str, unit: &str, mut samples: Vec<f64>, note: &str) -> Self {
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let median = if n == 0 {
            0.0
        } else if n % 2 == 1 {
            samples[n / 2]
        } else {
            (samples[n / 2 - 1] + samples[n / 2]) / 2.0
        };
        Self {
            scenario: scenario.into(),
            unit: unit.into(),
            median,
            min: samples.first().copied().unwrap_or(0.0),
            max: samples.last().copied().unwrap_or(0.0),
            runs: n,
            note: note.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: String,
    pub date: String,
    pub measurements: Vec<Measurement>,
}

impl Report {
    pub fn new() -> Self {
        Self { machine: machine(), date: chrono::Utc::now().format("%Y-%m-%d").to_string(), measurements: Vec::new() }
    }

    pub fn push(&mut self, m: Measurement) {
        eprintln!(
            "bench:   {:<32} median {:>12.1} {} (min {:.1}, max {:.1})",
            m.scenario, m.median, m.unit, m.min, m.max
        );
        self.measurements.push(m);
    }

    /// Aeon's end-to-end throughput over the plain-SQL ceiling measured in the same run.
    /// Adds `suffix` to the names of the measurements from index `first` on (a
    /// scenario run again on another backend, say).
    pub fn mark_from(&mut self, first: usize, suffix: &str) {
        for m in self.measurements.iter_mut().skip(first) {
            m.scenario.push_str(suffix);
        }
    }

    pub fn add_ratio(&mut self) {
        let find = |name: &str| self.measurements.iter().find(|m| m.scenario == name).map(|m| m.median);
        if let (Some(aeon), Some(ceiling)) = (find("throughput: end-to-end jobs/s"), find("limit: plain SQL jobs/s"))
            && ceiling > 0.0
        {
            self.measurements.push(Measurement::new(
                "throughput / limit ratio",
                "x",
                vec![aeon / ceiling],
                "median end-to-end throughput over the median plain-SQL ceiling of the same run (target: 0.6)",
            ));
        }
    }

    /// The report as the Markdown table of `BENCHMARKS.md`.
    pub fn markdown(&self, command: &str) -> String {
        let mut out = format!(
            "# Benchmarks\n\nWritten by `{command}` on {}. Machine: {}.\n\n\
             Medians over repeated runs, with the spread; the machine is shared, so read the\n\
             spread and the ratio to the plain-SQL ceiling measured in the same run rather than\n\
             absolute numbers. What limits them, and what would lift them: docs/performance.md.\n\n\
             | scenario | median | min | max | unit | runs | what |\n|---|---:|---:|---:|---|---:|---|\n",
            self.date, self.machine
        );
        for m in &self.measurements {
            out.push_str(&format!(
                "| {} | {:.2} | {:.2} | {:.2} | {} | {} | {} |\n",
                m.scenario, m.median, m.min, m.max, m.unit, m.runs, m.note
            ));
        }
        out
    }
}

/// The heading of the section the `cluster` scenario writes into `BENCHMARKS.md`.
pub const CLUSTER_SECTION: &str = "## The cluster scenario";

impl Report {
    /// Writes the report to `path`. A report of the `cluster` scenario alone is its own
    /// section: it replaces the file's earlier cluster section (or goes after the title)
    /// and keeps every other section. Any other report is the whole file.
    pub fn write(&self, path: &str, command: &str) -> std::io::Result<()> {
        let cluster_only =
            !self.measurements.is_empty() && self.measurements.iter().all(|m| m.scenario.starts_with("cluster:"));
        if !cluster_only {
            return std::fs::write(path, self.markdown(command));
        }
        let existing = std::fs::read_to_string(path).unwrap_or_default();
        std::fs::write(path, with_section(&existing, &self.cluster_section(command)))
    }

    fn cluster_section(&self, command: &str) -> String {
        let mut out = format!(
            "{CLUSTER_SECTION} ({})\n\nWritten by `{command}`. Machine: {}. What each line measures, \
             and how to read it: docs/cluster.md (\"Measured\").\n\n\
             | scenario | median | min | max | unit | runs | what |\n|---|---:|---:|---:|---|---:|---|\n",
            self.date, self.machine
        );
        for m in &self.measurements {
            out.push_str(&format!(
                "| {} | {:.2} | {:.2} | {:.2} | {} | {} | {} |\n",
                m.scenario, m.median, m.min, m.max, m.unit, m.runs, m.note
            ));
        }
        out
    }
}

/// `document` with `section` in place of its cluster section, or after its title.
fn with_section(document: &str, section: &str) -> String {
    if let Some(start) = document.find(CLUSTER_SECTION) {
        let rest = &document[start + CLUSTER_SECTION.len()..];
        let end = rest.find("\n## ").map(|i| start + CLUSTER_SECTION.len() + i + 1).unwrap_or(document.len());
        return format!("{}{section}\n{}", &document[..start], &document[end..]);
    }
    match document.find("\n## ") {
        Some(at) => format!("{}{section}\n{}", &document[..at + 1], &document[at + 1..]),
        None if document.is_empty() => format!("# Benchmarks\n\n{section}"),
        None => format!("{}\n\n{section}", document.trim_end()),
    }
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}

/// CPU model and count, from /proc.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} cores, {model}")
}

#[cfg(test)]
mod tests {
    use super::with_section;

    #[test]
    fn the_cluster_section_replaces_its_predecessor_and_keeps_the_others() {
        let doc = "# Benchmarks\n\n## A\n\na\n";
        let once = with_section(doc, "## The cluster scenario (1)\n\none\n");
        assert_eq!(once, "# Benchmarks\n\n## The cluster scenario (1)\n\none\n\n## A\n\na\n");
        let twice = with_section(&once, "## The cluster scenario (2)\n\ntwo\n");
        assert_eq!(twice, "# Benchmarks\n\n## The cluster scenario (2)\n\ntwo\n\n## A\n\na\n");
    }
}
