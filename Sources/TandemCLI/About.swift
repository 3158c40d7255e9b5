// TandemCLI
//
// Owns: The `tandem` executable: each command parses its arguments, calls one
// library workflow and prints. The only place that picks MPI and maps errors
// to exit statuses (0, 1, 4; 64 for usage).
//
// Must not import: nothing is below it to avoid; nothing imports it.
