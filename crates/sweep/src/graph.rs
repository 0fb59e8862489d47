//! The run graph: every run of a sweep, what kind of run it is, and which runs it needs first.
//!
//! Pretraining runs stand alone. Later stages (fine-tuning a swept model, compressing it) are
//! new [`RunKind`]s whose input is another run's checkpoint: such a run names its inputs in
//! `after`, and an executor starts it only once they are `done`. A run whose input failed or
//! diverged cannot start and is failed with that reason, so one bad run never blocks the
//! others.

use crate::plan::PlannedRun;
use crate::spec::SweepSpec;
use crate::{Error, Result};
use isoflop_train::compress::Method;
use isoflop_train::finetune::Method as FtMethod;
use serde::Serialize;
use std::collections::HashMap;

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunKind {
    /// Trains a model from scratch on the sweep's corpus.
    Pretrain,
    /// Compresses its input run's model with a method (`[compress]` of the spec).
    Compress(Method),
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
            RunKind::Compress(_) => "compress",
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
    /// and `[compress]` method (key `<run>-<method>`, reading the run's checkpoint).
    pub fn for_spec(spec: &SweepSpec, runs: Vec<PlannedRun>) -> Result<Self> {
        let mut nodes: Vec<RunNode> = runs.iter().cloned().map(RunNode::pretrain).collect();
        for m in &spec.compress.methods {
            for r in &runs {
                let mut run = r.clone();
                run.key = format!("{}-{}", r.key, spec.compress.tag(*m));
                // A compression trains nothing: its compute is not the sweep's training compute.
                (run.flops, run.flops_palm) = (0.0, 0.0);
                nodes.push(RunNode {
                    run,
                    kind: RunKind::Compress(*m),
                    after: vec![r.key.clone()],
                });
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
