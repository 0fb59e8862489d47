//! Two runs trained side by side in one process, on 1 and 2 threads: each engine computes on
//! a pool of its own config's count, its report says that count, and the pools are gone when
//! the runs return. (One test in this binary: it counts the process's threads.)

use isoflop_train::{
    Corpus, Dataset, Document, GptConfig, RunReport, TokenizerKind, TrainConfig, train,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Threads of this process named `isoflop-kernels-…` (Linux truncates names to 15 bytes).
fn compute_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("isoflop-kernels"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn dataset(cache: &std::path::Path) -> Dataset {
    let words = ["the", "model", "learns", "a", "law", "of", "scale", "and", "compute", "grows"];
    let mut s = 7u64;
    let mut text = String::new();
    while text.len() < 60_000 {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        text += words[((s >> 33) % words.len() as u64) as usize];
        text += if s >> 60 == 0 { ".\n" } else { " " };
    }
    let corpus = Corpus {
        name: "threads".into(),
        documents: vec![Document { name: "doc".into(), text }],
        ood: vec![],
    };
    Dataset::prepare(&corpus, TokenizerKind::Byte, 0, cache).unwrap()
}

#[test]
fn runs_side_by_side_each_compute_on_their_own_threads() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2
        || !std::path::Path::new("/proc/self/task").exists()
    {
        eprintln!("skipped: needs 2 logical CPUs and /proc");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let model = GptConfig::new(2, 64, 2, 256, 32).unwrap();
    let config = |threads: usize| {
        let mut c = TrainConfig::new(model, 40_000).unwrap().with_batch_tokens(512).unwrap();
        c.threads = threads;
        c.eval_points = 2;
        c.eval_tokens = 1024;
        c.final_eval_tokens = 1024;
        c.peak_flops = Some(1e11); // no peak probe: its threads are not the engine's
        c
    };
    let (one, two) = (config(1), config(2));
    let (done, stop) = (AtomicBool::new(false), AtomicBool::new(false));
    let (reports, most): (Vec<RunReport>, usize) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut most = 0;
            while !done.load(Ordering::SeqCst) {
                most = most.max(compute_threads());
                std::thread::sleep(Duration::from_millis(1));
            }
            most
        });
        let runs: Vec<_> = [&one, &two]
            .into_iter()
            .map(|cfg| {
                let (data, stop) = (&data, &stop);
                s.spawn(move || train(cfg, data, &mut |_| {}, stop).unwrap())
            })
            .collect();
        let reports = runs.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, Ordering::SeqCst);
        (reports, sampler.join().unwrap())
    });
    assert_eq!(reports[0].threads, 1);
    assert_eq!(reports[1].threads, 2);
    assert_eq!((reports[0].config.threads, reports[1].config.threads), (1, 2));
    // 1 + 2 while both trained; never the 2 + 2 of a pool sized by the process.
    assert_eq!(most, 3, "compute threads at once");
    assert_eq!(compute_threads(), 0, "a run's threads are gone when it returns");
}
