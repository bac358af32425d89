//! V8's garbage collections during one run of a worker, read from workerd's log: how often the
//! worker's process scavenged, how much its requests allocated and left alive, and how long each
//! collection stopped it. bench-peers reads them to show where the workers' tails come from.
//!
//! workerd given the V8 flag `--trace-gc-nvp` prints a line per collection, its figures as JSON
//! after `GC: ` (`"gc":"s"` is a scavenge, `"mc"` a mark-compact). [`profile`] sums the lines of a
//! run; other lines are ignored, and a GC line it cannot read is counted, never fatal.
//!
//! ```
//! use wyn_edge_tests::peers::gc;
//! let log = concat!(
//!     r#"[7:0x1:0]  440 ms: GC: {"pause":0.8,"gc":"s","allocated":4000000,"#,
//!     r#""new_space_survived":200000,"nodes_copied_in_new":4000,"#,
//!     r#""scavenge.weak_global_handles.identify":0.1,"scavenge.weak_global_handles.process":0.1}"#,
//! );
//! let run = gc::profile(log, 1000);
//! assert_eq!(run.scavenges, 1);
//! assert_eq!(run.requests_per_scavenge(), Some(1000.0));
//! assert_eq!(run.handles_per_request(), Some(4.0));
//! ```

use serde::Deserialize;

/// What precedes the JSON of a GC line (`[pid:isolate:id]      440 ms: GC: {...}`).
const MARKER: &str = " ms: GC: ";

/// The figures of one run, summed over its collections in every isolate of the process: the
/// worker's and the cache service's share workerd's one thread, so a pause of either stalls
/// every request in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Profile {
    /// Requests answered during the run.
    pub requests: u64,
    /// Scavenges (`"gc":"s"`): collections of the young generation.
    pub scavenges: u64,
    /// Their pauses (`pause`), summed, ms.
    pub scavenge_pause_ms: f64,
    /// The longest of them, ms.
    pub scavenge_max_ms: f64,
    /// Of the scavenges' pauses, the time spent on weak global handles
    /// (`scavenge.weak_global_handles.identify` and `.process`), ms.
    pub weak_handles_ms: f64,
    /// `allocated` over every collection, bytes. V8 prints the growth of the heap's objects
    /// since the end of the previous collection of any kind, so the sum is what the run allocated
    /// (less what was freed without a collection).
    pub allocated: u64,
    /// `new_space_survived` over the scavenges: bytes of young objects they kept alive.
    pub survived: u64,
    /// `nodes_copied_in_new` over the scavenges: global handles whose young objects they kept
    /// alive (workerd holds its per-request objects by such handles).
    pub handles_copied: u64,
    /// Collections of other kinds (mark-compact, ...).
    pub others: u64,
    /// The longest of their pauses, ms.
    pub other_max_ms: f64,
    /// GC lines that could not be read, skipped.
    pub malformed: u64,
}

impl Profile {
    fn per_request(&self, total: f64) -> Option<f64> {
        (self.requests > 0).then(|| total / self.requests as f64)
    }

    /// Requests answered per scavenge (none without a scavenge).
    pub fn requests_per_scavenge(&self) -> Option<f64> {
        (self.scavenges > 0).then(|| self.requests as f64 / self.scavenges as f64)
    }

    /// Bytes allocated per request.
    pub fn allocated_per_request(&self) -> Option<f64> {
        self.per_request(self.allocated as f64)
    }

    /// Bytes per request that scavenges kept alive.
    pub fn survived_per_request(&self) -> Option<f64> {
        self.per_request(self.survived as f64)
    }

    /// Global handles per request whose objects scavenges kept alive.
    pub fn handles_per_request(&self) -> Option<f64> {
        self.per_request(self.handles_copied as f64)
    }

    /// The mean scavenge pause, ms.
    pub fn mean_scavenge_ms(&self) -> Option<f64> {
        (self.scavenges > 0).then(|| self.scavenge_pause_ms / self.scavenges as f64)
    }

    /// The share of the scavenges' pauses spent on weak global handles, 0 to 1.
    pub fn weak_handles_share(&self) -> Option<f64> {
        (self.scavenge_pause_ms > 0.0).then(|| self.weak_handles_ms / self.scavenge_pause_ms)
    }
}

/// The fields read from a GC line; V8 prints many more.
#[derive(Deserialize)]
struct Collection {
    gc: String,
    pause: f64,
    allocated: u64,
    new_space_survived: Option<u64>,
    nodes_copied_in_new: Option<u64>,
    #[serde(rename = "scavenge.weak_global_handles.identify")]
    weak_identify: Option<f64>,
    #[serde(rename = "scavenge.weak_global_handles.process")]
    weak_process: Option<f64>,
}

/// A scavenge's own figures; `None` when the line lacks one.
struct Scavenge {
    survived: u64,
    handles: u64,
    weak_ms: f64,
}

impl Collection {
    fn scavenge(&self) -> Option<Scavenge> {
        Some(Scavenge {
            survived: self.new_space_survived?,
            handles: self.nodes_copied_in_new?,
            weak_ms: self.weak_identify? + self.weak_process?,
        })
    }
}

/// Sums the GC lines of `log` (the part of workerd's log written during one run) for a run that
/// answered `requests` requests.
pub fn profile(log: &str, requests: u64) -> Profile {
    let mut run = Profile {
        requests,
        ..Profile::default()
    };
    for line in log.lines() {
        let Some((_, json)) = line.split_once(MARKER) else {
            continue;
        };
        let Ok(c) = serde_json::from_str::<Collection>(json) else {
            run.malformed += 1;
            continue;
        };
        if !c.pause.is_finite() || c.pause < 0.0 {
            run.malformed += 1;
            continue;
        }
        if c.gc == "s" {
            let Some(s) = c.scavenge() else {
                run.malformed += 1;
                continue;
            };
            run.scavenges += 1;
            run.scavenge_pause_ms += c.pause;
            run.scavenge_max_ms = run.scavenge_max_ms.max(c.pause);
            run.weak_handles_ms += s.weak_ms;
            run.survived = run.survived.saturating_add(s.survived);
            run.handles_copied = run.handles_copied.saturating_add(s.handles);
        } else {
            run.others += 1;
            run.other_max_ms = run.other_max_ms.max(c.pause);
        }
        run.allocated = run.allocated.saturating_add(c.allocated);
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of one run of ours under `bench-ab --v8-flag --trace-gc-nvp`, the JSON trimmed
    /// to the fields read and a few others, after a line of another kind.
    const RUN: &str = concat!(
        "[14486:0x1328bfb36000:0]    12619 ms: Memory pool: Removed pages: 4194304, removed large pages: 0\n",
        ", removed zone reservations: 0\n",
        r#"[14486:0x1328bfb36000:0]    16275 ms: GC: {"pause":5.714,"mutator":168.554,"gc":"mc","allocated":2558620,"new_space_survived":0,"nodes_copied_in_new":0}"#,
        "\n",
        r#"[14486:0x1328bfb36000:0]    16802 ms: GC: {"pause":5.763,"mutator":521.252,"gc":"s","allocated":7759668,"new_space_survived":410524,"nodes_copied_in_new":7189,"scavenge.weak_global_handles.identify":1.358,"scavenge.weak_global_handles.process":2.583}"#,
        "\n",
        r#"[14486:0x1328bfb36000:0]    17299 ms: GC: {"pause":7.576,"mutator":488.861,"gc":"s","allocated":7263764,"new_space_survived":384556,"nodes_copied_in_new":6737,"scavenge.weak_global_handles.identify":1.384,"scavenge.weak_global_handles.process":3.542}"#,
        "\n",
    );

    fn close(a: Option<f64>, b: f64) {
        let a = a.unwrap();
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn sums_a_run() {
        let run = profile(RUN, 4000);
        assert_eq!((run.scavenges, run.others, run.malformed), (2, 1, 0));
        // Every collection's allocation: 2,558,620 + 7,759,668 + 7,263,764.
        assert_eq!(run.allocated, 17_582_052);
        close(run.allocated_per_request(), 17_582_052.0 / 4000.0);
        close(run.requests_per_scavenge(), 2000.0);
        // The scavenges only: 410,524 + 384,556 bytes and 7,189 + 6,737 handles.
        close(run.survived_per_request(), 795_080.0 / 4000.0);
        close(run.handles_per_request(), 13_926.0 / 4000.0);
        close(run.mean_scavenge_ms(), (5.763 + 7.576) / 2.0);
        assert_eq!(run.scavenge_max_ms, 7.576);
        close(
            run.weak_handles_share(),
            (1.358 + 2.583 + 1.384 + 3.542) / (5.763 + 7.576),
        );
        assert_eq!(run.other_max_ms, 5.714);
    }

    #[test]
    fn reads_a_whole_line() {
        let line = concat!(
            r#"[14486:0x1328bfb36000:0]      440 ms: GC: {"pause":0.853,"mutator":436.439,"gc":"s""#,
            r#","reduce_memory":false,"time_to_safepoint":0,"stack":true"#,
            r#","reason":"allocation failure","collector_reason":"","start_object_size":1356564"#,
            r#","end_object_size":829268,"start_memory_size":2621440,"end_memory_size":3145728"#,
            r#","start_holes_size":1056940,"end_holes_size":1056940,"pool_local_chunks":0"#,
            r#","pool_shared_chunks":0,"pool_total_chunks":0,"new_space_capacity":1048576"#,
            r#","new_space_size":313472,"old_gen_allocation_limit":187120171"#,
            r#","global_allocation_limit":374240342,"allocation_throughput":2957.35"#,
            r#","new_space_allocation_throughput":1832.9,"new_space_survive_rate":34.8538"#,
            r#","allocated":1356564,"promoted":0,"new_space_survived":293040,"nodes_died_in_new":60"#,
            r#","nodes_copied_in_new":323,"nodes_promoted":28,"promotion_ratio":0"#,
            r#","average_survival_ratio":34.8538,"promotion_rate":0,"during_sweeping":false"#,
            r#","heap.prologue":0,"heap.epilogue":0.001,"heap.external.prologue":0"#,
            r#","heap.external.epilogue":0,"heap.external_weak_global_handles":0"#,
            r#","complete.sweep_array_buffers":0,"scavenge":0.83,"scavenge.free_remembered_set":0"#,
            r#","scavenge.roots":0.047,"scavenge.weak":0"#,
            r#","scavenge.weak_global_handles.identify":0.078"#,
            r#","scavenge.weak_global_handles.process":0.124,"scavenge.parallel":0.532"#,
            r#","scavenge.pin_objects_conservative":0,"scavenge.pin_objects_precise":0"#,
            r#","scavenge.restore_pinned":0,"scavenge.sweep_array_buffers":0.001"#,
            r#","scavenge.resize_new_space":0.001,"background.scavenge.parallel":0"#,
            r#","incremental.steps_count":0,"incremental.steps_took":0,"scavenge_throughput":343540"#,
            r#","quarantined_size":0,"quarantined_pages":0}"#,
        );
        let run = profile(line, 100);
        assert_eq!(
            (
                run.scavenges,
                run.allocated,
                run.survived,
                run.handles_copied
            ),
            (1, 1_356_564, 293_040, 323)
        );
        close(run.weak_handles_share(), (0.078 + 0.124) / 0.853);
    }

    #[test]
    fn skips_and_counts_malformed_lines() {
        let log = [
            // Cut short (a line still being written).
            r#"[1:0x1:0]  10 ms: GC: {"pause":5.763,"mutator":521.252,"gc":"s","allo"#,
            // No pause.
            r#"[1:0x1:0]  20 ms: GC: {"gc":"mc","allocated":10}"#,
            // A scavenge without its handles.
            r#"[1:0x1:0]  30 ms: GC: {"pause":1.0,"gc":"s","allocated":10,"new_space_survived":5}"#,
            r#"[1:0x1:0]  40 ms: GC: {"pause":-1.0,"gc":"mc","allocated":10}"#,
            "[1:0x1:0]  50 ms: GC: not json",
            "worker: GC: is a word a worker may log",
        ]
        .join("\n");
        let run = profile(&log, 10);
        assert_eq!(run.malformed, 5);
        assert_eq!((run.scavenges, run.others, run.allocated), (0, 0, 0));
        assert_eq!(run.requests_per_scavenge(), None);
        assert_eq!(run.mean_scavenge_ms(), None);
        assert_eq!(run.weak_handles_share(), None);
        assert_eq!(profile("", 0).allocated_per_request(), None);
    }
}
