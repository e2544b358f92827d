//! A deterministic, model-free embedding of an attempt: feature hashing.
//!
//! Each feature (the job type, the outcome, the error kind, each word of the error
//! text) is hashed with 64-bit FNV-1a, a hash fixed by its definition, so the same
//! attempt gets the same vector on every node, build and run. The hash picks one of
//! [`DIMENSION`] slots and a sign; the vector is the weighted sum, scaled to unit
//! length. Two failures with the same kind and much the same message then point the
//! same way. Numbers, UUIDs and hex ids in error text are folded to one token each,
//! so "timed out after 300 ms" and "timed out after 5000 ms" read alike.

/// The length of every context vector (the Qdrant collection's size).
pub const DIMENSION: usize = 256;

const WEIGHT_TYPE: f32 = 1.0;
const WEIGHT_OUTCOME: f32 = 1.5;
const WEIGHT_KIND: f32 = 2.0;
/// Shared by all the words of an error text, so a long message does not drown the
/// type, outcome and kind.
const WEIGHT_TEXT: f32 = 3.0;

/// The embedding of an attempt of `job_type` that ended with `outcome` and `error`.
pub fn embed(job_type: &str, outcome: &str, error: Option<&str>) -> Vec<f32> {
    let mut vector = vec![0f32; DIMENSION];
    add(&mut vector, &format!("type:{job_type}"), WEIGHT_TYPE);
    add(&mut vector, &format!("outcome:{outcome}"), WEIGHT_OUTCOME);
    if let Some(error) = error {
        add(&mut vector, &format!("kind:{}", error_kind(outcome, error)), WEIGHT_KIND);
        let words = tokens(error);
        if !words.is_empty() {
            let each = WEIGHT_TEXT / (words.len() as f32).sqrt();
            for word in &words {
                add(&mut vector, &format!("word:{word}"), each);
            }
        }
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// A short name for what went wrong: `timeout`, `panic`, `crash`, `bad_payload`, or
/// the words before the error's first `:` (`connection refused: …` →
/// `connection refused`), or `error`.
pub fn error_kind(outcome: &str, error: &str) -> String {
    let lower = error.to_lowercase();
    match outcome {
        "TIMED_OUT" => return "timeout".into(),
        "CRASHED" if lower.starts_with("handler panicked") => return "panic".into(),
        "CRASHED" => return "crash".into(),
        _ => {}
    }
    if lower.starts_with("payload does not fit") {
        return "bad_payload".into();
    }
    match lower.split_once(':') {
        Some((head, _)) if !head.trim().is_empty() && head.len() <= 60 => tokens(head).join(" "),
        _ => "error".into(),
    }
}

/// The words of a text, lowercased; numbers, UUIDs and hex ids become `<n>` / `<id>`.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            if w.chars().all(|c| c.is_ascii_digit()) {
                "<n>".to_string()
            } else if w.len() >= 8 && w.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                "<id>".to_string()
            } else if w.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                // 300ms, 5s, 2xx: the number goes, the unit stays.
                format!("<n>{}", w.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.'))
            } else {
                w
            }
        })
        .collect()
}

fn add(vector: &mut [f32], feature: &str, weight: f32) {
    let hash = fnv1a(feature.as_bytes());
    let slot = (hash % DIMENSION as u64) as usize;
    let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
    vector[slot] += sign * weight;
}

/// 64-bit FNV-1a: defined by its constants, the same everywhere.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::cosine;

    #[test]
    fn the_same_attempt_gets_the_same_unit_vector() {
        let a = embed("email", "FAILED", Some("smtp: connection refused by 10.0.0.7"));
        assert_eq!(a, embed("email", "FAILED", Some("smtp: connection refused by 10.0.0.7")));
        assert_eq!(a.len(), DIMENSION);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn failures_alike_score_higher_than_failures_apart() {
        let q = embed("email", "FAILED", Some("smtp: connection refused after 300 ms"));
        let alike = embed("email", "FAILED", Some("smtp: connection refused after 5000 ms"));
        let apart = embed("email", "FAILED", Some("template: missing variable name"));
        let (alike, apart) = (cosine(&q, &alike).unwrap(), cosine(&q, &apart).unwrap());
        assert!(alike > 0.99, "{alike}");
        assert!(alike > apart + 0.2, "{alike} vs {apart}");
    }

    #[test]
    fn error_kinds_name_what_went_wrong() {
        assert_eq!(error_kind("TIMED_OUT", "timed out after 5 ms"), "timeout");
        assert_eq!(error_kind("CRASHED", "handler panicked: boom"), "panic");
        assert_eq!(error_kind("FAILED", "Connection refused: 127.0.0.1:9"), "connection refused");
        assert_eq!(error_kind("FAILED", "no colon here"), "error");
    }

    /// `v` is zero but in the slots of `expected`, which hold its values (to 1e-6).
    fn assert_slots(v: &[f32], expected: &[(usize, f32)]) {
        let slots: Vec<usize> = v.iter().enumerate().filter(|(_, x)| **x != 0.0).map(|(i, _)| i).collect();
        assert_eq!(slots, expected.iter().map(|(i, _)| *i).collect::<Vec<_>>());
        for (i, x) in expected {
            assert!((v[*i] - x).abs() < 1e-6, "slot {i}: {} != {x}", v[*i]);
        }
    }

    #[test]
    fn the_vector_is_fixed_by_its_definition() {
        // Computed apart from this code, from the definition (64-bit FNV-1a of
        // "type:sms" → slot 26, sign -; "outcome:FAILED" → slot 230, sign +), so that
        // vectors stored by another build still compare.
        assert_slots(&embed("sms", "FAILED", None), &[(26, -0.5547002), (230, 0.8320503)]);
    }

    #[test]
    fn the_words_of_an_error_share_one_weight() {
        // kind "error" (slot 163, +, weight 2) and four words of weight 3/√4 each:
        // "disk" 68 -, "full" 60 -, "quota" 235 +, "exceeded" 52 +; norm √16.25.
        let v = embed("sms", "FAILED", Some("disk full quota exceeded"));
        let word = 0.3721042;
        assert_slots(
            &v,
            &[(26, -0.2480695), (52, word), (60, -word), (68, -word), (163, 0.4961389), (230, word), (235, word)],
        );
    }

    #[test]
    fn a_crash_that_is_not_a_panic_is_a_crash() {
        assert_eq!(error_kind("CRASHED", "worker died: lease expired"), "crash");
        assert_eq!(error_kind("FAILED", "payload does not fit: expected an object"), "bad_payload");
    }

    #[test]
    fn an_error_with_a_blank_or_long_head_is_just_an_error() {
        assert_eq!(error_kind("FAILED", "  : nothing before the colon"), "error");
        let long = format!("{}: then the colon", "word ".repeat(13));
        assert_eq!(error_kind("FAILED", &long), "error", "a head over 60 bytes is not a kind");
        assert_eq!(error_kind("FAILED", &format!("{}: x", "w".repeat(60))), "w".repeat(60));
    }

    #[test]
    fn words_keep_their_dashes_and_underscores() {
        assert_eq!(error_kind("FAILED", "Dead_Letter-Queue: full"), "dead_letter-queue");
    }

    #[test]
    fn numbers_and_ids_are_folded_but_short_hex_words_are_not() {
        let words = tokens("job 0a1b2c3d-4e5f-6789-abcd-ef0123456789 at deadbeef: 300ms, 42 cafe");
        assert_eq!(words, ["job", "<id>", "at", "<id>", "<n>ms", "<n>", "cafe"]);
    }

    #[test]
    fn an_attempt_whose_features_cancel_out_gets_the_zero_vector_not_nan() {
        // Found by searching FNV-1a hashes: "type:uq" falls on kind "error"'s slot 163
        // with its sign (1 + 2), four "kry" (0.75 each, 3/√16) on it with the other
        // sign; two "kvv" cancel "outcome:FAILED" (1.5); "xp" and "hgg" share a slot
        // with opposite signs. Nothing is left to scale.
        let v = embed("uq", "FAILED", Some("kry kry kry kry kvv kvv xp hgg xp hgg xp hgg xp hgg xp hgg"));
        assert!(v.iter().all(|x| *x == 0.0), "{v:?}");
    }
}
