// TandemTraining
//
// Owns: Training: the data-parallel `Trainer`, `TrainingRun` (the coordinator:
// shard plan, batch source, checkpoints, metrics log, progress, fault
// injection), re-runs from snapshots, kernel benchmarks and synthetic data.
//
// Must not import: scoring, monitoring, reports or MPI: it trains over any
// `Communicator`.
