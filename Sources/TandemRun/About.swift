// TandemRun
//
// Owns: The vocabulary of a run and of a finished model, shared by everything
// above: the run file and the retrain file, parsed and validated once;
// resolved `TrainingSettings`; each file of a run directory as one type for
// writer and reader (`ParameterFile` and its hash, `MetricsFile`,
// `RunSummary`, `Evaluation`, `FeatureImportance`) and `RunLock`;
// `TrainedModel`; `ClassificationMetrics`, the threshold policy, release gates
// and monitor thresholds.
//
// Must not import: the trainer, the store, MPI or any command: only
// TandemNN, TandemData and TandemTensor.
