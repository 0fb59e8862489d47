//! The run graph: every run of a sweep, what kind of run it is, and which runs it needs first.
//!
//! Pretraining runs stand alone. Later stages (fine-tuning a swept model, compressing it) are
//! new [`RunKind`]s whose input is another run's checkpoint: such a run names its inputs in
//! `after`, and an executor starts it only once they are `done`. A run whose input failed or
//! diverged cannot start and is failed with that reason, so one bad run never blocks the
//! others.

use crate::plan::PlannedRun;
use crate::spec::{CompressVariant, SweepSpec, Teacher};
use crate::{Error, Result};
use isoflop_train::finetune::Method as FtMethod;
use serde::Serialize;
use std::collections::HashMap;

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunKind {
    /// Trains a model from scratch on the sweep's corpus (in a WSD design: a cooldown branch
    /// that starts from its trunk's checkpoint; either way a point of the scaling law).
    Pretrain,
    /// A WSD design's constant-rate trunk: trains a size to its longest branch point, keeping
    /// a checkpoint at each branch point. Not a point of the law (its rate never decays).
    Trunk,
    /// Compresses its input run's model with a method, at one of the spec's sparsities for a
    /// pruning method (`[compress]` of the spec).
    Compress(CompressVariant),
    /// Trains its first input run's shape for that run's tokens on the soft targets of a
    /// teacher among its other inputs (`[distill]` of the spec); the first input is the
    /// from-scratch comparison.
    Distill,
    /// Fine-tunes its input run's model on task `task` of the spec's `[finetune]` with a
    /// method.
    Finetune {
        /// Index into `finetune.tasks`.
        task: usize,
        /// The method.
        method: FtMethod,
    },
}

impl RunKind {
    /// The name stored with the run (`pretrain`, `compress`; a compression's method is
    /// stored beside it).
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Pretrain => "pretrain",
            RunKind::Trunk => "trunk",
            RunKind::Compress(_) => "compress",
            RunKind::Distill => "distill",
            RunKind::Finetune { .. } => "finetune",
        }
    }
}

impl Serialize for RunKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run of the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunNode {
    /// The run: its key, shape, tokens, compute and seed.
    pub run: PlannedRun,
    /// What it does.
    pub kind: RunKind,
    /// Keys of the runs whose output it reads (their checkpoints), in the order it reads them.
    pub after: Vec<String>,
}

impl RunNode {
    /// A pretraining run (no inputs).
    pub fn pretrain(run: PlannedRun) -> Self {
        Self { run, kind: RunKind::Pretrain, after: Vec::new() }
    }

    /// The run's key.
    pub fn key(&self) -> &str {
        &self.run.key
    }
}

/// The tokens a WSD branch of `tokens` shares with its trunk: where it branches off, before
/// its cooldown (the trunk trains to the largest; the trainer rounds it down to whole batches).
pub fn branch_point(tokens: u64, cooldown: f64) -> u64 {
    ((1.0 - cooldown) * tokens as f64).round() as u64
}

/// The trunk key of a WSD branch's shape and seed.
pub fn trunk_key(run: &PlannedRun) -> String {
    format!("l{}d{}-trunk-s{}", run.model.n_layer, run.model.d_model, run.seed)
}

/// A WSD design's nodes: one trunk per shape and seed, first (longest first), trained to the
/// longest branch point; then the branches, each after its trunk. A branch trains only its
/// cooldown, so its `flops_palm` (what the machine does) is that share of its run; its
/// `flops` stays 6·N·D, the compute of the (N, D) point it measures.
fn wsd_nodes(runs: &[PlannedRun], cooldown: f64) -> Vec<RunNode> {
    let mut trunks: Vec<PlannedRun> = Vec::new();
    for r in runs {
        let point = branch_point(r.tokens, cooldown);
        let per_token = r.flops_palm / r.tokens.max(1) as f64;
        let key = trunk_key(r);
        match trunks.iter_mut().find(|t| t.key == key) {
            Some(t) if t.tokens >= point => {}
            Some(t) => t.tokens = point,
            None => trunks.push(PlannedRun { key, tokens: point, budget: None, ..r.clone() }),
        }
        let t = trunks.iter_mut().find(|t| t.key == trunk_key(r)).expect("just added");
        t.flops = 6.0 * t.params * t.tokens as f64;
        t.flops_palm = per_token * t.tokens as f64;
        t.tokens_per_param = t.tokens as f64 / t.params;
    }
    trunks.sort_by(|a, b| b.flops_palm.total_cmp(&a.flops_palm).then(a.key.cmp(&b.key)));
    let mut nodes: Vec<RunNode> = trunks
        .into_iter()
        .map(|run| RunNode { run, kind: RunKind::Trunk, after: vec![] })
        .collect();
    for r in runs {
        let mut run = r.clone();
        run.flops_palm *= cooldown;
        nodes.push(RunNode { run, kind: RunKind::Pretrain, after: vec![trunk_key(r)] });
    }
    nodes
}

/// What the machine trains for a spec's planned runs: the runs themselves, or for a WSD design
/// its trunks and each branch's cooldown alone (`tokens` the cooldown's, `flops_palm` its
/// share), for time estimates and layouts.
pub fn trained_runs(spec: &SweepSpec, runs: &[PlannedRun]) -> Vec<PlannedRun> {
    let Some(cooldown) = spec.design.cooldown() else { return runs.to_vec() };
    wsd_nodes(runs, cooldown)
        .into_iter()
        .map(|n| {
            let mut r = n.run;
            if n.kind == RunKind::Pretrain {
                let point = branch_point(r.tokens, cooldown);
                r.tokens = r.tokens.saturating_sub(point).max(1);
            }
            r
        })
        .collect()
}

/// The runs of a sweep, checked: keys unique, every input a run of the graph, no cycle.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunGraph {
    nodes: Vec<RunNode>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl RunGraph {
    /// The graph of a plan's pretraining runs, in the plan's order.
    pub fn pretrain(runs: Vec<PlannedRun>) -> Self {
        Self::new(runs.into_iter().map(RunNode::pretrain).collect())
            .expect("a plan's keys are unique and its runs have no inputs")
    }

    /// The graph of a spec: its planned pretraining runs, then one run per pretraining run
    /// and `[compress]` method (and sparsity, for a pruning method given several; key
    /// `<run>-<tag>`, reading the run's checkpoint), then the `[finetune]` runs, then the
    /// `[distill]` runs ([`distill_inputs`]).
    pub fn for_spec(spec: &SweepSpec, runs: Vec<PlannedRun>) -> Result<Self> {
        let mut nodes: Vec<RunNode> = match spec.design.cooldown() {
            Some(cooldown) => wsd_nodes(&runs, cooldown),
            None => runs.iter().cloned().map(RunNode::pretrain).collect(),
        };
        for v in spec.compress.variants() {
            for r in &runs {
                let mut run = r.clone();
                run.key = format!("{}-{}", r.key, spec.compress.tag(v));
                // A compression trains nothing: its compute is not the sweep's training compute.
                (run.flops, run.flops_palm) = (0.0, 0.0);
                nodes.push(RunNode { run, kind: RunKind::Compress(v), after: vec![r.key.clone()] });
            }
        }
        let ft = &spec.finetune;
        for task in 0..ft.tasks.len() {
            for &method in &ft.methods {
                for r in &runs {
                    let mut run = r.clone();
                    run.key = format!("{}-{}", r.key, ft.tag(task, method));
                    (run.flops, run.flops_palm) = (0.0, 0.0);
                    nodes.push(RunNode {
                        run,
                        kind: RunKind::Finetune { task, method },
                        after: vec![r.key.clone()],
                    });
                }
            }
        }
        if let Some(d) = &spec.distill {
            for (student, after) in distill_inputs(d.teacher, &runs) {
                let mut run = runs[student].clone();
                run.key = format!("{}-{}", run.key, d.tag());
                // Its compute (the student's 6·N·D and the teacher's forward passes) is not the
                // design's: the law and the IsoFLOP profiles never see it.
                (run.flops, run.flops_palm) = (0.0, 0.0);
                let after = after.into_iter().map(|i| runs[i].key.clone()).collect();
                nodes.push(RunNode { run, kind: RunKind::Distill, after });
            }
        }
        Self::new(nodes)
    }

    /// A graph of `nodes`, in their order (the order an executor prefers to start them in
    /// among runs that are ready).
    pub fn new(nodes: Vec<RunNode>) -> Result<Self> {
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            if index.insert(n.run.key.clone(), i).is_some() {
                return Err(Error::Graph(format!("two runs have the key {:?}", n.run.key)));
            }
        }
        for n in &nodes {
            for a in &n.after {
                if !index.contains_key(a) {
                    return Err(Error::Graph(format!(
                        "run {} reads run {a:?}, which is not in the sweep",
                        n.run.key
                    )));
                }
                if a == &n.run.key {
                    return Err(Error::Graph(format!("run {} reads itself", n.run.key)));
                }
            }
        }
        let graph = Self { nodes, index };
        graph.topological()?;
        Ok(graph)
    }

    /// The runs, in the graph's order.
    pub fn nodes(&self) -> &[RunNode] {
        &self.nodes
    }

    /// The planned runs, in the graph's order.
    pub fn runs(&self) -> impl Iterator<Item = &PlannedRun> {
        self.nodes.iter().map(|n| &n.run)
    }

    /// Number of runs.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no runs.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The run with this key.
    pub fn get(&self, key: &str) -> Option<&RunNode> {
        self.index.get(key).map(|&i| &self.nodes[i])
    }

    /// Position of the run with this key.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// Indices of the runs in an order where every run comes after its inputs (Kahn's
    /// algorithm, taking ready runs in the graph's order); an error names a run on a cycle.
    pub fn topological(&self) -> Result<Vec<usize>> {
        let n = self.nodes.len();
        let mut waiting: Vec<usize> = self.nodes.iter().map(|n| n.after.len()).collect();
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, node) in self.nodes.iter().enumerate() {
            for a in &node.after {
                readers[self.index[a]].push(i);
            }
        }
        let mut ready: std::collections::BTreeSet<usize> =
            (0..n).filter(|&i| waiting[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &r in &readers[i] {
                waiting[r] -= 1;
                if waiting[r] == 0 {
                    ready.insert(r);
                }
            }
        }
        match (0..n).find(|&i| waiting[i] > 0) {
            Some(i) => Err(Error::Graph(format!(
                "run {} is on a cycle of inputs: it can never start",
                self.nodes[i].run.key
            ))),
            None => Ok(order),
        }
    }
}

/// The distillations of a plan's runs: (student, inputs), indices into `runs`. Runs are
/// grouped by budget and seed; the first input of each is the student's own pretraining run
/// (the from-scratch comparison, and the training settings its distilled twin copies), the
/// rest the teacher's candidates. `Largest`: the group's run with the most parameters teaches
/// every other run of it. `Best`: the lowest-loss run teaches, known only once the group's runs
/// finish, so every run of the group is a student reading all of them (the best one
/// distilled into its own shape). Runs without a budget are never distilled.
pub fn distill_inputs(teacher: Teacher, runs: &[PlannedRun]) -> Vec<(usize, Vec<usize>)> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let Some(b) = r.budget else { continue };
        match groups.iter_mut().find(|g| runs[g[0]].budget == Some(b) && runs[g[0]].seed == r.seed)
        {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    let mut out = Vec::new();
    for g in groups.into_iter().filter(|g| g.len() >= 2) {
        match teacher {
            Teacher::Largest => {
                let t = g
                    .iter()
                    .copied()
                    .reduce(|a, b| if runs[b].params > runs[a].params { b } else { a })
                    .expect("a group has runs");
                out.extend(g.iter().filter(|&&s| s != t).map(|&s| (s, vec![s, t])));
            }
            Teacher::Best => {
                for &s in &g {
                    let mut after = vec![s];
                    after.extend(g.iter().copied().filter(|&o| o != s));
                    out.push((s, after));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SweepSpec, plan};

    fn runs() -> Vec<PlannedRun> {
        let spec = SweepSpec::parse(
            "name = \"g\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e12]\nsizes = 3\n",
            "g",
        )
        .unwrap();
        plan(&spec).unwrap()
    }

    fn reading(mut run: PlannedRun, key: &str, after: &[&str]) -> RunNode {
        run.key = key.into();
        RunNode {
            run,
            kind: RunKind::Pretrain,
            after: after.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn inputs_come_first() {
        let r = runs();
        let mut nodes: Vec<RunNode> = r.iter().cloned().map(RunNode::pretrain).collect();
        // A later stage listed before the run it reads still starts after it.
        nodes.insert(0, reading(r[0].clone(), "stage-of-last", &[&r[2].key]));
        let g = RunGraph::new(nodes).unwrap();
        let order: Vec<&str> =
            g.topological().unwrap().iter().map(|&i| g.nodes()[i].key()).collect();
        let at = |k: &str| order.iter().position(|o| *o == k).unwrap();
        assert!(at(&r[2].key) < at("stage-of-last"));
        assert_eq!(order.len(), 4);
        assert_eq!(g.get("stage-of-last").unwrap().after, vec![r[2].key.clone()]);
    }

    #[test]
    fn each_sparsity_of_a_pruning_method_is_a_run() {
        let spec = SweepSpec::parse(
            "name = \"g\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e12]\nsizes = 3\n\
             [compress]\nmethods = [\"int8\", \"wanda\", \"2:4\"]\nsparsity = [0.3, 0.6]\n",
            "g",
        )
        .unwrap();
        let g = RunGraph::for_spec(&spec, runs()).unwrap();
        // 3 models; of each: int8, wanda at two sparsities, 2:4 once.
        assert_eq!(g.len(), 3 + 3 * 4);
        let r = &runs()[0];
        let wanda = g.get(&format!("{}-wanda-s0.6", r.key)).unwrap();
        assert_eq!(wanda.after, vec![r.key.clone()]);
        assert!(matches!(wanda.kind, RunKind::Compress(v) if v.sparsity == Some(1)));
        assert!(g.get(&format!("{}-2of4", r.key)).is_some());
    }

    #[test]
    fn each_budget_teaches_its_other_runs() {
        let text = "name = \"g\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e12, 3e12]\n\
                    sizes = 3\n[train]\nseeds = [0, 1]\n[distill]\n";
        let spec = SweepSpec::parse(text, "g").unwrap();
        let runs = plan(&spec).unwrap();
        assert_eq!(runs.len(), 12);
        let g = RunGraph::for_spec(&spec, runs.clone()).unwrap();
        // Each (budget, seed) of three runs: its largest teaches the other two.
        let distill: Vec<&RunNode> =
            g.nodes().iter().filter(|n| n.kind == RunKind::Distill).collect();
        assert_eq!(distill.len(), 4 * 2);
        for d in &distill {
            let (student, teacher) = (g.get(&d.after[0]).unwrap(), g.get(&d.after[1]).unwrap());
            assert_eq!(d.after.len(), 2);
            assert_eq!(d.key(), format!("{}-distill-largest", student.key()));
            assert_eq!(
                (student.run.budget, student.run.seed),
                (teacher.run.budget, teacher.run.seed)
            );
            assert_eq!((d.run.params, d.run.tokens), (student.run.params, student.run.tokens));
            let largest = runs
                .iter()
                .filter(|r| r.budget == student.run.budget && r.seed == student.run.seed)
                .map(|r| r.params)
                .fold(0.0, f64::max);
            assert!(teacher.run.params == largest && student.run.params < largest);
        }
        // `best`: every run a student, reading the whole budget (itself first).
        let best =
            SweepSpec::parse(&format!("{text}teacher = \"best\"\nalpha = 0.3\n"), "g").unwrap();
        let g = RunGraph::for_spec(&best, runs.clone()).unwrap();
        let distill: Vec<&RunNode> =
            g.nodes().iter().filter(|n| n.kind == RunKind::Distill).collect();
        assert_eq!(distill.len(), 12);
        assert!(
            distill.iter().all(|d| d.after.len() == 3 && d.key().ends_with("-distill-best-a0.3"))
        );
        assert_eq!(distill[0].after[0], runs[0].key);
    }

    #[test]
    fn bad_graphs_are_refused_with_the_run() {
        let r = runs();
        let dup = vec![RunNode::pretrain(r[0].clone()), RunNode::pretrain(r[0].clone())];
        assert!(RunGraph::new(dup).unwrap_err().to_string().contains("two runs have the key"));
        let missing = vec![reading(r[0].clone(), "a", &["nowhere"])];
        let e = RunGraph::new(missing).unwrap_err().to_string();
        assert!(e.contains("run a reads run \"nowhere\""), "{e}");
        let cycle = vec![reading(r[0].clone(), "a", &["b"]), reading(r[1].clone(), "b", &["a"])];
        assert!(RunGraph::new(cycle).unwrap_err().to_string().contains("cycle"));
        let own = vec![reading(r[0].clone(), "a", &["a"])];
        assert!(RunGraph::new(own).unwrap_err().to_string().contains("reads itself"));
        assert_eq!(RunGraph::pretrain(r).len(), 3);
    }
}
