//! The sweep's overall progress bar (runs done, FLOPs done, time left) and one line per
//! finished run, on stderr. Without a terminal the bar hides itself and only the lines print.

use crate::sweep::plan::short;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use isoflop_sweep::Events;
use std::sync::{Mutex, OnceLock};

/// Progress of one sweep invocation, shared by the executor's worker threads.
pub struct Progress {
    enabled: bool,
    bar: OnceLock<Option<ProgressBar>>,
    totals: OnceLock<(usize, f64)>,
    state: Mutex<State>,
}

struct State {
    finished_runs: usize,
    finished_flops: f64,
    /// (run key, its FLOPs, fraction done) of runs in flight.
    slots: Vec<Option<(String, f64, f64)>>,
}

// The bar counts FLOPs in units of 1e6 so that u64 positions reach far past any CPU sweep.
const UNIT: f64 = 1e6;

impl Progress {
    /// Progress on stderr; `enabled = false` prints nothing at all.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            bar: OnceLock::new(),
            totals: OnceLock::new(),
            state: Mutex::new(State { finished_runs: 0, finished_flops: 0.0, slots: vec![] }),
        }
    }

    fn redraw(&self, s: &State) {
        let Some(Some(bar)) = self.bar.get() else { return };
        let (total_runs, total_flops) = self.totals.get().copied().unwrap_or_default();
        let flying: f64 = s.slots.iter().flatten().map(|(_, f, frac)| f * frac).sum();
        let done = s.finished_flops + flying;
        bar.set_position((done / UNIT) as u64);
        let running: Vec<&str> = s.slots.iter().flatten().map(|(k, _, _)| k.as_str()).collect();
        bar.set_message(format!(
            "{}/{} runs · {}/{} FLOPs · training {}",
            s.finished_runs,
            total_runs,
            short(done),
            short(total_flops),
            if running.is_empty() { "–".into() } else { running.join(", ") }
        ));
    }
}

impl Events for Progress {
    /// A bar for `runs` runs worth `flops` FLOPs.
    fn begin(&self, runs: usize, flops: f64) {
        let _ = self.totals.set((runs, flops));
        let _ = self.bar.set(self.enabled.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some((flops / UNIT).ceil().max(1.0) as u64),
                ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "[{elapsed_precise}] {bar:28.cyan/blue} {percent:>3}% {msg} · ~{eta} left",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        }));
        self.redraw(&self.state.lock().expect("progress"));
    }

    /// A run starts; returns its slot.
    fn start(&self, key: &str, flops: f64) -> usize {
        let mut s = self.state.lock().expect("progress");
        let slot = s.slots.iter().position(Option::is_none).unwrap_or_else(|| {
            s.slots.push(None);
            s.slots.len() - 1
        });
        s.slots[slot] = Some((key.to_string(), flops, 0.0));
        self.redraw(&s);
        slot
    }

    /// The run in `slot` is `frac` done.
    fn advance(&self, slot: usize, frac: f64) {
        let mut s = self.state.lock().expect("progress");
        if let Some(Some(entry)) = s.slots.get_mut(slot) {
            entry.2 = frac.clamp(0.0, 1.0);
        }
        self.redraw(&s);
    }

    /// The run in `slot` ended (finished, or interrupted and not counted).
    fn end(&self, slot: usize, counted: bool) {
        let mut s = self.state.lock().expect("progress");
        if let Some((_, flops, _)) = s.slots.get_mut(slot).and_then(Option::take)
            && counted
        {
            s.finished_runs += 1;
            s.finished_flops += flops;
        }
        self.redraw(&s);
    }

    /// Prints one line above the bar.
    fn line(&self, text: String) {
        match self.bar.get() {
            Some(Some(bar)) if !bar.is_hidden() => bar.println(text),
            Some(Some(_)) => eprintln!("{text}"),
            _ if self.enabled => eprintln!("{text}"),
            _ => {}
        }
    }

    /// Clears the bar.
    fn finish(&self) {
        if let Some(Some(bar)) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
