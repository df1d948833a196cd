//! Load balancing across agent groups (R6.8, R8.20-R8.22): which agent group a conversation
//! of a split skill belongs to, and the order to try groups in when that one is full.
//!
//! The caller allocates a group once, on first routing, stores it with the conversation and
//! offers the conversation only to agents of that group (R6.1). When the allocated group is
//! at full capacity it tries the other groups in [`cascade`] order (R6.8), the allocated
//! group first. Allocation ignores who is online (R8.22), so a group with nobody online can
//! strand its conversations (edge case 20); the cascade is the way out.

use crate::config::GroupSplit;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`: stable across processes, builds and versions (std's hasher is
/// randomized per process), so every replica allocates the same group.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(FNV_PRIME))
}

/// R8.20: the group of a newly routed conversation, or `None` when the skill has no split.
/// Deterministic: FNV-1a of the conversation id modulo 100 (modulo the percent total, should
/// an unvalidated split not sum to 100), placed against the cumulative percents in list
/// order. Re-running it for the same conversation gives the same group.
pub fn allocate_group(split: &[GroupSplit], conversation_id: &str) -> Option<String> {
    let total: u64 = split.iter().map(|g| u64::from(g.percent)).sum();
    if total == 0 {
        return None;
    }
    let bucket = fnv1a64(conversation_id.as_bytes()) % total;
    let mut cumulative = 0;
    split
        .iter()
        .find(|g| {
            cumulative += u64::from(g.percent);
            bucket < cumulative
        })
        .map(|g| g.group_id.clone())
}

/// R8.21: whether a conversation keeps `current_group` after moving (transfer, back to
/// queue) to a skill with `split`: yes when that skill has no split or its split contains
/// the group; a conversation without a group keeps having none only when there is no split.
pub fn keep_group(split: &[GroupSplit], current_group: Option<&str>) -> bool {
    match current_group {
        _ if split.is_empty() => true,
        Some(group) => split.iter().any(|g| g.group_id == group),
        None => false,
    }
}

/// R8.21: the group after a move to a skill with `split`: the current one when
/// [`keep_group`] says so, else a fresh [`allocate_group`].
pub fn group_after_move(split: &[GroupSplit], current_group: Option<&str>, conversation_id: &str) -> Option<String> {
    if keep_group(split, current_group) {
        current_group.map(str::to_string)
    } else {
        allocate_group(split, conversation_id)
    }
}

/// R6.8: the groups ordered by priority (1 first), ties in list order. The caller tries its
/// allocated group first, then these (skipping the allocated one) when it is full.
pub fn cascade(split: &[GroupSplit]) -> Vec<&str> {
    let mut ordered: Vec<&GroupSplit> = split.iter().collect();
    ordered.sort_by_key(|g| g.priority);
    ordered.into_iter().map(|g| g.group_id.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn split(groups: &[(&str, u32, u32)]) -> Vec<GroupSplit> {
        groups
            .iter()
            .map(|(id, priority, percent)| GroupSplit {
                group_id: id.to_string(),
                priority: *priority,
                percent: *percent,
            })
            .collect()
    }

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn r8_20_split_allocates_by_percent() {
        let split = split(&[("g50", 1, 50), ("g30", 1, 30), ("g20", 2, 20)]);
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for i in 0..10_000 {
            let group = allocate_group(&split, &format!("conv-{i}")).unwrap();
            *counts.entry(group).or_default() += 1;
        }
        for (group, expected) in [("g50", 5_000), ("g30", 3_000), ("g20", 2_000)] {
            let got = counts[group];
            assert!(got.abs_diff(expected) <= 300, "{group}: {got} of 10000, expected {expected} +- 300");
        }
    }

    #[test]
    fn r8_20_allocation_is_deterministic_and_none_without_split() {
        let even = split(&[("a", 1, 50), ("b", 1, 50)]);
        let first = allocate_group(&even, "conversation-42");
        assert!(first.is_some());
        assert_eq!(allocate_group(&even, "conversation-42"), first);
        assert_eq!(allocate_group(&[], "conversation-42"), None);
        // fnv1a64("a") % 100 == 96: past the first 50 %, so the second group.
        assert_eq!(allocate_group(&even, "a").as_deref(), Some("b"));
        // Bucket 96 belongs to the group whose cumulative range [.., cum) contains it.
        assert_eq!(allocate_group(&split(&[("x", 1, 96), ("y", 1, 4)]), "a").as_deref(), Some("y"));
        assert_eq!(allocate_group(&split(&[("x", 1, 97), ("y", 1, 3)]), "a").as_deref(), Some("x"));
    }

    #[test]
    fn r8_21_group_kept_unless_the_new_split_lacks_it() {
        let split = split(&[("a", 1, 50), ("b", 1, 50)]);
        assert!(keep_group(&[], Some("x")), "target without split keeps the group");
        assert!(keep_group(&split, Some("b")));
        assert!(!keep_group(&split, Some("x")), "split lacks the group: re-allocate");
        assert!(!keep_group(&split, None));
        assert!(keep_group(&[], None));
        assert_eq!(group_after_move(&split, Some("b"), "c1").as_deref(), Some("b"));
        assert_eq!(group_after_move(&[], Some("x"), "c1").as_deref(), Some("x"));
        assert_eq!(group_after_move(&split, Some("x"), "a").as_deref(), Some("b"));
    }

    #[test]
    fn r6_8_cascade_orders_by_priority_then_list_order() {
        let split = split(&[("c", 2, 20), ("a", 1, 40), ("d", 3, 10), ("b", 1, 30)]);
        assert_eq!(cascade(&split), ["a", "b", "c", "d"]);
    }
}
