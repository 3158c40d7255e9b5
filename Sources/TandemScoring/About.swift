// TandemScoring
//
// Owns: A registered model version at work: inputs prepared as its training
// data was (CSV schema, image resize), batch prediction sharded across ranks,
// the audit log and its verification, the registration of an evaluated run.
//
// Must not import: the trainer or monitoring (which builds on this).
