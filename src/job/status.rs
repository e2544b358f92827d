//! The status values stored in `jobs.status` and `job_executions.execution_status`.
//! The migration's CHECK constraints list the same values; a test keeps them in step.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A status string read from the database that this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} status {value:?}")]
pub struct ParseStatusError {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseStatusError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(ParseStatusError { kind: $kind, value: other.to_string() }),
                }
            }
        }
    };
}

status_enum! {
    /// Where a job stands.
    JobStatus, "job" {
        /// Some dependency has not finished yet.
        Waiting => "WAITING",
        /// Ready to be claimed once `scheduled_at` has passed.
        Pending => "PENDING",
        /// Claimed by a worker under a lease.
        Running => "RUNNING",
        /// Finished with a result. Terminal.
        Completed => "COMPLETED",
        /// Exhausted its retries or failed permanently. Terminal until requeued.
        DeadLetter => "DEAD_LETTER",
        /// Cancelled by an operator or by a failed dependency. Terminal.
        Cancelled => "CANCELLED",
    }
}

impl JobStatus {
    /// Whether the job will never run again on its own.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::DeadLetter | JobStatus::Cancelled)
    }
}

status_enum! {
    /// How one attempt ended (or that it has not yet).
    ExecutionStatus, "execution" {
        Pending => "PENDING",
        Running => "RUNNING",
        Succeeded => "SUCCEEDED",
        /// The handler reported a failure.
        Failed => "FAILED",
        /// The attempt outlived the job's `timeout_ms`.
        TimedOut => "TIMED_OUT",
        /// The handler panicked, or its worker or node died (lease expired).
        Crashed => "CRASHED",
        Cancelled => "CANCELLED",
    }
}

/// How one run of a job ended, as its Job actor saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunResult {
    Succeeded,
    Failed {
        permanent: bool,
    },
    TimedOut,
    /// The handler panicked (or its Job actor died without settling the run).
    Panicked,
    Snoozed,
    /// Given back unrun (drain).
    Released,
    Cancelled,
    /// Its worker died; the Supervisor voided the claim.
    Abandoned,
    /// The handler ended, but the store refused its result: the claim had been lost
    /// meanwhile (rescued, cancelled). The fencing token did its work; nothing of this
    /// run counts anywhere.
    Fenced,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_text() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>(), Ok(*s));
        }
        for s in ExecutionStatus::ALL {
            assert_eq!(s.as_str().parse::<ExecutionStatus>(), Ok(*s));
        }
        let err = "LOST".parse::<JobStatus>().unwrap_err();
        assert_eq!(err.to_string(), "unknown job status \"LOST\"");
    }
}
